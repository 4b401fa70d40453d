from django.urls import path

from tradingops.consumers import HeaderConsumer

from .consumers import EventStreamConsumer

websocket_urlpatterns = [
    path("ws/events/", EventStreamConsumer.as_asgi()),
    path("ws/header/", HeaderConsumer.as_asgi()),
]
