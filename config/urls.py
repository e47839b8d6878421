from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.exceptions import json_not_found

api_patterns: list[URLPattern | URLResolver] = [
    path("", include("accounts.urls")),
    path("", include("tasks.urls")),
    path("", include("chat.urls")),
    path("", include("runs.urls")),
    path("", include("integrations.urls")),
    path("", include("realtime.urls")),
    path("", include("dashboard.urls")),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    # Anything else under /api/ is a JSON 404, never an HTML page (also with DEBUG), a
    # path with a newline in it included (`.` would stop there).
    re_path(r"^[\s\S]*$", json_not_found),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    # /healthz, /readyz, /metrics: outside /api/, where probes and scrapers look.
    path("", include("ops.urls")),
    # The web console (dashboard/console.py): `/` is its home, or its sign-in page.
    path("", include("dashboard.console_urls")),
]

handler404 = "config.exceptions.json_not_found"
handler500 = "config.exceptions.json_server_error"
