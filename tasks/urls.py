from django.urls import path

from tasks import views

app_name = "tasks"
urlpatterns = [
    path("", views.queue_page, name="queue"),
    path("bulk", views.bulk, name="bulk"),
    path("add", views.add, name="add"),
    path("<str:task_id>/", views.detail, name="detail"),
    path("<str:task_id>/<str:action>", views.act, name="act"),
]
