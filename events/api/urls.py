from django.urls import path

from . import views

app_name = "events"

urlpatterns = [
    path("events", views.EventListCreateView.as_view(), name="event-list"),
    path("events/chains/<uuid:correlation_id>", views.EventChainView.as_view(), name="event-chain"),
    path("events/<uuid:event_id>", views.EventDetailView.as_view(), name="event-detail"),
    path("events/<uuid:event_id>/chain", views.EventPathView.as_view(), name="event-path"),
    path("runs", views.RunListView.as_view(), name="run-list"),
    path("runs/<str:run_id>", views.RunDetailView.as_view(), name="run-detail"),
    path("health", views.HealthView.as_view(), name="health"),
]
