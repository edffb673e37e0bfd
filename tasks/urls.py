from django.urls import path

from tasks import views

app_name = "tasks"
urlpatterns = [
    path("", views.queue_page, name="queue"),
    path("bulk", views.bulk, name="bulk"),
    path("add", views.add, name="add"),
    path("<str:task_id>/", views.detail, name="detail"),
    # A task's actions live under its page's URL: the queue's rows, which
    # would otherwise reverse one URL per button, append the action to it.
    path("<str:task_id>/<str:action>", views.act, name="act"),
]
