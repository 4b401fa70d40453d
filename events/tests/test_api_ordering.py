"""``?ordering=`` on the event list: sorted by a column server-side, paged exactly by a keyset
cursor (every event once, even with thousands of equal values), and a 400 naming the field for
a name it does not know."""

import base64
from datetime import UTC, datetime, timedelta

import pytest

from events.services import EventDraft, emit_many

T0 = datetime(2024, 9, 20, 12, 0, tzinfo=UTC)
EVENTS_URL = "/api/v1/events"


@pytest.fixture
def viewer(client_for):
    return client_for("viewer")


def _events(specs):
    """(type, symbol or None, run_id, minute) -> events with those fields."""
    drafts = []
    for i, (event_type, symbol, run_id, minute) in enumerate(specs):
        if event_type == "intent":
            payload = {"action": "note", "note": f"n{i}", **({"symbol": symbol} if symbol else {})}
        else:  # heartbeats carry no symbol
            payload = {"agent": "execution", "status": "ok", "duration_ms": i}
        drafts.append(EventDraft(event_type, payload, "x", run_id=run_id, ts=T0 + timedelta(minutes=minute)))
    return [event for i in range(0, len(drafts), 1000) for event in emit_many(drafts[i : i + 1000])]


def _walk(viewer, url):
    rows = []
    while url:
        response = viewer.get(url)
        assert response.status_code == 200, response.data
        rows += response.data["results"]
        url = response.data["next"]
    return rows


@pytest.mark.parametrize(
    ("ordering", "column"),
    [
        ("type", lambda e: e["type"]),
        ("-type", lambda e: e["type"]),
        ("symbol", lambda e: e["payload"].get("symbol", "")),
        ("-symbol", lambda e: e["payload"].get("symbol", "")),
        ("run", lambda e: e["run_id"]),
        ("-run", lambda e: e["run_id"]),
    ],
)
def test_ordering_sorts_by_the_column_newest_first_among_equals(viewer, ordering, column):
    _events(
        [
            ("intent", "SOL-USDT", "r2", 1),
            ("agent_run", None, "r1", 2),
            ("intent", "BTC-USD", "r1", 3),
            ("intent", None, "r3", 2),
            ("agent_run", None, "r2", 5),
            ("intent", "SOL-USDT", "r1", 4),
        ]
    )
    rows = viewer.get(f"{EVENTS_URL}?ordering={ordering}").data["results"]
    assert len(rows) == 6
    newest_first = sorted(rows, key=lambda e: (e["ts"], e["id"]), reverse=True)
    expected = sorted(newest_first, key=column, reverse=ordering.startswith("-"))  # stable: ties stay newest first
    assert [e["id"] for e in rows] == [e["id"] for e in expected]
    assert len({column(e) for e in rows}) > 1


def test_ordering_by_time_both_ways(viewer):
    _events([("intent", None, "r1", minute) for minute in (3, 1, 2)])
    oldest_first = [e["ts"] for e in viewer.get(f"{EVENTS_URL}?ordering=time").data["results"]]
    assert oldest_first == sorted(oldest_first)
    assert [e["ts"] for e in viewer.get(f"{EVENTS_URL}?ordering=-time").data["results"]] == oldest_first[::-1]


@pytest.mark.parametrize("ordering", ["type", "-symbol", "run", "time"])
def test_sorted_pages_walk_every_event_once_across_long_runs_of_equal_values(viewer, ordering):
    # 1,200 intents share a type (DRF's CursorPagination would loop past 1,000 equal values)
    _events(
        [
            ("intent", "SOL-USDT" if i % 2 else None, "r1", i // 7) if i % 5 else ("agent_run", None, "r1", i // 7)
            for i in range(1_500)
        ]
    )
    rows = _walk(viewer, f"{EVENTS_URL}?ordering={ordering}&limit=200")
    assert len(rows) == 1_500
    assert len({e["id"] for e in rows}) == 1_500
    assert rows == viewer.get(f"{EVENTS_URL}?ordering={ordering}&limit=1000").data["results"] + _walk(
        viewer, viewer.get(f"{EVENTS_URL}?ordering={ordering}&limit=1000").data["next"]
    )


def test_previous_link_returns_the_page_before(viewer):
    _events([("intent", None, "r1", i // 3) for i in range(30)])
    first = viewer.get(f"{EVENTS_URL}?ordering=type&limit=10").data
    second = viewer.get(first["next"]).data
    back = viewer.get(second["previous"]).data
    assert [e["id"] for e in back["results"]] == [e["id"] for e in first["results"]]
    assert back["previous"] is None


def test_unknown_ordering_is_400_naming_the_field_and_the_value(viewer):
    response = viewer.get(f"{EVENTS_URL}?ordering=payload")
    assert response.status_code == 400
    assert "ordering" in response.data
    assert "payload" in str(response.data["ordering"])


@pytest.mark.parametrize(
    "position",
    ['["intent", "not a time", 3]', '["intent", "2024-09-20T12:00:00Z"]', '[1, "2024-09-20T12:00:00Z", 3]', "{}",
     '["intent", "2024-09-20T12:00:00Z", 99999999999999999999]'],
)  # fmt: skip
def test_forged_sorted_cursor_is_400_naming_cursor(viewer, position):
    cursor = base64.b64encode(f"p={position}".encode()).decode()
    response = viewer.get(f"{EVENTS_URL}?ordering=type&cursor={cursor}")
    assert response.status_code == 400
    assert "cursor" in response.data


def test_sorted_list_query_count_does_not_grow_with_page_size(viewer, django_assert_num_queries):
    _events([("intent", "SOL-USDT", "r1", i) for i in range(60)])
    with django_assert_num_queries(2):
        assert len(viewer.get(f"{EVENTS_URL}?ordering=symbol&limit=60").data["results"]) == 60
