from django.urls import path

from events import run_views

app_name = "runs"
urlpatterns = [
    path("", run_views.run_list, name="list"),
    path("<int:run_id>/", run_views.run_detail, name="detail"),
    path("<int:run_id>/log", run_views.run_log, name="log"),
]
