from django.urls import path

from projects import views

app_name = "projects"
urlpatterns = [
    path("agents/", views.agent_list, name="agents"),
    path("projects/", views.project_list, name="projects"),
]
