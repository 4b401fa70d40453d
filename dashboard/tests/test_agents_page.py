import re

import pytest

from agents.tests.factories import PlanFactory
from events.services import emit

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client, users):
    client.force_login(users["viewer"])
    return client


def test_agents_page_shows_plans_judgements_intents_and_llm_use(viewer):
    PlanFactory(plan_id="p1", rules={"entry": "sma_20 > sma_50"})
    emit("plan_judged", {"plan_id": "p1", "overall_score": "72.5", "component_scores": {"risk": "80"}}, source="x")
    emit("intent", {"action": "pause", "symbol": "SOL-USDT", "note": "FOMC"}, source="user:otto")
    emit(
        "llm_call",
        {
            "model": "m-small",
            "agent": "planner",
            "prompt_hash": "h",
            "tokens_in": 120,
            "tokens_out": 30,
            "cost": "0.0021",
            "latency_ms": 850,
        },
        source="agent:planner",
    )
    response = viewer.get("/agents/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "p1 v1 <strong>active</strong>" in html
    assert "&quot;entry&quot;: &quot;sma_20 &gt; sma_50&quot;" in html
    assert '<td class="num">72.5</td>' in html
    assert '"score": "72.50"' in html
    assert "<td>user:otto</td><td>pause SOL-USDT: FOMC</td>" in html
    assert re.search(r"<td>m-small</td><td class=\"num\">1</td><td class=\"num\">120 / 30</td>", html)
    assert 'data-ws-types="plan_generated,plan_judged,intent,llm_call"' in html


def test_agents_page_empty_states_say_what_to_do(viewer):
    html = viewer.get("/agents/").content.decode()
    assert "No plan yet." in html
    assert "No judgement yet." in html
    assert "No LLM call in the last 24 hours." in html


def test_agents_page_needs_a_login(client):
    assert client.get("/agents/")["Location"] == "/accounts/login/?next=/agents/"
