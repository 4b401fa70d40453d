from events.routing import websocket_urlpatterns as event_patterns

websocket_urlpatterns = [*event_patterns]
