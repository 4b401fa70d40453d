import pytest

from market.tests.factories import shipped_candles


@pytest.fixture(autouse=True)
def tasks_run_in_process(request):
    """Agent tasks run in-process here (no stray messages in the shared broker), except in tests
    that start a real worker."""
    if "celery_worker_process" not in request.fixturenames:
        request.getfixturevalue("tasks_in_process")
    return


@pytest.fixture
def sol_candles(sol):
    return shipped_candles(sol)
