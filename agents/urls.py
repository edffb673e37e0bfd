from django.urls import path

from agents import views

app_name = "agents"
urlpatterns = [
    path("agents/", views.agent_list, name="agents"),
    path("projects/", views.project_list, name="projects"),
    path("projects/<str:name>/<str:action>", views.project_pause, name="pause"),
]
