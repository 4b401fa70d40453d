from django.urls import path

from .consumers import WalletAlertsConsumer

websocket_urlpatterns = [path("ws/wallets/", WalletAlertsConsumer.as_asgi())]
