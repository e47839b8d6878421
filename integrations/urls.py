from django.urls import path
from rest_framework.routers import SimpleRouter

from integrations import views

router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("repos", views.RepositoryDeliveryViewSet, basename="repo-deliveries")
router.register("webhook-endpoints", views.WebhookEndpointViewSet, basename="webhook-endpoint")

inbound = views.RepositoryWebhookViewSet
urlpatterns = [
    path(
        "webhooks/github/<uuid:repo_id>",
        inbound.as_view({"post": "github"}),
        name="webhook-github",
    ),
    path(
        "webhooks/gitlab/<uuid:repo_id>",
        inbound.as_view({"post": "gitlab"}),
        name="webhook-gitlab",
    ),
    *router.urls,
]
