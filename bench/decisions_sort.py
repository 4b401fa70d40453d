"""The Decisions page sorted by each column, over 200,000 events (a third of them decisions, the
rest heartbeats): server render time of the first page and of the next ("Load more"), and each
sort's query plan (the first page must come from an index, not a sort of the whole table).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> REDIS_URL=redis://127.0.0.1:6379/<n> \
      LOG_LEVEL=WARNING .venv/bin/python bench/decisions_sort.py
"""

import os
import random
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "tradingops.tests.settings"
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from events import types  # noqa: E402
from events.models import Event  # noqa: E402
from events.selectors import event_ordered  # noqa: E402
from events.services import EventDraft, emit_many  # noqa: E402

EVENTS = 200_000
SORTS = ["", "?ordering=symbol", "?ordering=-symbol", "?ordering=type", "?ordering=-type", "?ordering=run"]


def seed(start: int) -> None:
    rnd = random.Random(1)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    symbols = ["SOL-USDT"] * 4 + ["BTC-USD"] * 4 + ["ETH-USD"]
    for batch in range(start // 1000, EVENTS // 1000):  # resumes a seed that was cut short
        drafts = []
        for i in range(1000):
            n = batch * 1000 + i
            ts, run_id = t0 + timedelta(seconds=n * 5), f"run-{n % 50}"
            if n % 3:
                payload = {"agent": "execution", "status": "ok", "duration_ms": 3}
                drafts.append(EventDraft("agent_run", payload, "agent:execution", run_id=run_id, ts=ts))
            else:
                payload = {"action": "note", "note": "x", **({"symbol": rnd.choice(symbols)} if n % 7 else {})}
                drafts.append(EventDraft("intent", payload, "user:x", run_id=run_id, ts=ts))
        emit_many(drafts)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE events_event")


def timed(client, url: str) -> tuple[float, float, str]:
    wall, cpu = time.perf_counter(), time.process_time()
    response = client.get(url)
    assert response.status_code == 200, url
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, response.content.decode()


def main() -> None:
    if (stored := Event.objects.count()) < EVENTS:
        seed(stored)
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_superuser": True})
    client = Client()
    client.force_login(user)
    print(f"{Event.objects.count():,} events; load average {os.getloadavg()[0]:.1f}")
    for query in SORTS:
        url = "/decisions/" + query
        timed(client, url)
        runs = sorted(timed(client, url)[:2] for _ in range(15))
        html = timed(client, url)[2]
        more = re.search(r'<a href="([^"]+)" rel="next" id="load-more"', html).group(1).replace("&amp;", "&")
        next_ms = sorted(timed(client, more)[0] for _ in range(5))[2]
        print(
            f"{url:28s} wall p50 {runs[7][0]:6.1f} ms, max {runs[-1][0]:6.1f} ms; "
            f"cpu p50 {sorted(r[1] for r in runs)[7]:5.1f} ms; next page p50 {next_ms:6.1f} ms"
        )
    for name in ["symbol", "-symbol", "type", "-type", "run"]:
        page = event_ordered(Event.objects.exclude(type__in=types.outside_chains()), orderings=[name])[:51]
        print(f"plan {name:8s}", " / ".join(line.strip() for line in page.explain().splitlines()[:3]))


if __name__ == "__main__":
    main()
