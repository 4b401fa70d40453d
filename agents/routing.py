from django.urls import path

from .consumers import LiveTradingConsumer

websocket_urlpatterns = [path("ws/live/", LiveTradingConsumer.as_asgi())]
