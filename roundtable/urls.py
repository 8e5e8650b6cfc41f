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
    path("<int:session_id>/chair/notes/", views.chair_note, name="chair_note"),
    path("<int:session_id>/chair/marks/", views.chair_mark, name="chair_mark"),
    path("<int:session_id>/chair/answer/", views.chair_answer, name="chair_answer"),
    path("<int:session_id>/chair/question/", views.chair_question, name="chair_question"),
    path("<int:session_id>/chair/points/", views.chair_points, name="chair_points"),
    path("<int:session_id>/versions/", views.session_versions, name="versions"),
    path("<int:session_id>/rerun/", views.session_rerun, name="rerun"),
]
