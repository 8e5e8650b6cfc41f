from __future__ import annotations

from django.urls import path

from roundtable import views

app_name = "roundtable"

urlpatterns = [
    path("", views.session_list, name="list"),
    path("new/", views.session_new, name="new"),
    path("quote/", views.session_quote, name="quote"),
    path("<int:session_id>/", views.session_detail, name="detail"),
    path("<int:session_id>/events.json", views.session_events, name="events"),
]
