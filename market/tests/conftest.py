import importlib

import pytest

from market.models import Instrument

_seed = importlib.import_module("market.migrations.0002_seed_instruments")


@pytest.fixture
def instruments(request):
    """The seeded instruments, present even after a transactional test elsewhere flushed the tables."""
    uses_transactions = "transactional_db" in request.fixturenames or "asgi_server" in request.fixturenames
    request.getfixturevalue("transactional_db" if uses_transactions else "db")
    from django.apps import apps

    _seed.seed(apps, None)
    return {i.symbol: i for i in Instrument.objects.all()}
