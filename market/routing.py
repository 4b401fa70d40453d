from django.urls import path

from .consumers import MarketStreamConsumer

websocket_urlpatterns = [path("ws/market/", MarketStreamConsumer.as_asgi())]
