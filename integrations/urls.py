from django.urls import path

from integrations import metrics, views

app_name = "integrations"

urlpatterns = [
    path("api/v1/access/", views.access_list, name="access_list"),
    path("api/v1/door-events/", views.door_events, name="door_events"),
    path("metrics", metrics.metrics, name="metrics"),
]
