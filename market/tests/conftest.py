import importlib

import pytest
from django.apps import apps

from market.models import Instrument

_seed = importlib.import_module("market.migrations.0002_seed_instruments")


@pytest.fixture
def instruments(db):
    """The seeded instruments, present even after a transactional test elsewhere flushed the tables.

    (With ``transactional_db`` also requested, as ``asgi_server`` does, pytest-django uses that.)
    """
    _seed.seed(apps, None)
    return {i.symbol: i for i in Instrument.objects.all()}
