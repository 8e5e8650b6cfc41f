from __future__ import annotations

from django.urls import path

from videos import views

app_name = "videos"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("quote/", views.job_quote, name="quote"),
    path("jobs/", views.job_list_fragment, name="jobs"),
    path("<int:job_id>/", views.job_detail, name="detail"),
    path("<int:job_id>/clip", views.job_clip, name="clip"),
    path("<int:job_id>/thumbnail.jpg", views.job_thumbnail, name="thumbnail"),
]
