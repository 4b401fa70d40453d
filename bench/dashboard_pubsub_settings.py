"""bench/dashboard.py --layer pubsub: the test settings with channels_redis's Redis Pub/Sub layer,
which sends a group message once per process instead of once per member channel."""

from tradingops.tests.settings import *  # noqa: F403
from tradingops.tests.settings import CHANNEL_LAYERS, REDIS_URL

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]},
    }
}
