import pytest

from events.projectors import set_mode_provider


@pytest.fixture
def run_mode():
    """``run_mode(lambda: "live")`` registers a run's mode for this test, as the agents app does at
    ``ready()``; the provider it replaced is put back afterwards."""
    replaced = []

    def register(provider):
        previous = set_mode_provider(provider)
        if not replaced:
            replaced.append(previous)

    yield register
    if replaced:
        set_mode_provider(replaced[0])
