from events.routing import websocket_urlpatterns as event_patterns
from wallets.routing import websocket_urlpatterns as wallet_patterns

websocket_urlpatterns = [*event_patterns, *wallet_patterns]
