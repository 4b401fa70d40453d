"""bench/dashboard.py --layer redis: the test settings with channels_redis's list-based core layer
(the production layer before Pub/Sub), which sends a group message once per member channel and
makes four Redis round trips per message per socket on receive. For comparison only."""

from tradingops.tests.settings import *  # noqa: F403
from tradingops.tests.settings import CHANNEL_LAYERS, REDIS_URL

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # above the layer's 5 s blocking pop: redis-py 8's default 5 s read timeout killed every
            # consumer after ~5 s (django/channels_redis#422)
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
            "prefix": CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
            "capacity": 1000,
        },
    }
}
