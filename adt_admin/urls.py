from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from api.metrics import metrics
from api.views import api
from dashboard import views

admin.site.site_header = "ADT admin"
admin.site.site_title = "ADT admin"
admin.site.index_title = "Every table"
# The header links the pages and "Tables" lists every model: the sidebar would only narrow the lists.
admin.site.enable_nav_sidebar = False



def favicon(request):
    """/favicon.ico, which browsers ask for by themselves: the SVG icon (hashed name, so not a permanent redirect)."""
    return redirect(static("favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon),
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("tasks/", include("tasks.urls")),
    path("events/", include("events.urls")),
    path("schedules/", include("schedules.urls")),
    path("runs/", include("events.run_urls")),
    path("", include("agents.urls")),
    path("api/v1/", api.urls),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
]
