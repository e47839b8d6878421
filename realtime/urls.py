from django.urls import URLPattern, URLResolver, path

from realtime import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("realtime/auth", views.ChannelAuthView.as_view(), name="realtime-auth"),
    path("events", views.EventListView.as_view(), name="events"),
]
