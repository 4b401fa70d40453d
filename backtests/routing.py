from django.urls import path

from .consumers import BacktestProgressConsumer

websocket_urlpatterns = [path("ws/backtests/<uuid:run_id>/", BacktestProgressConsumer.as_asgi())]
