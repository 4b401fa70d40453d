from agents.routing import websocket_urlpatterns as live_patterns
from backtests.routing import websocket_urlpatterns as backtest_patterns
from events.routing import websocket_urlpatterns as event_patterns
from market.routing import websocket_urlpatterns as market_patterns
from wallets.routing import websocket_urlpatterns as wallet_patterns

websocket_urlpatterns = [*event_patterns, *live_patterns, *market_patterns, *wallet_patterns, *backtest_patterns]
