"""The planner against a local server speaking the OpenAI chat-completions protocol, replaying
recorded answers (the LLM provider is the one thing outside this machine)."""

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agents.models import StrategyPlan
from agents.planner import planner_run
from events.models import Event, LLMCall

ANSWERS = Path(__file__).parent / "data" / "llm"


@pytest.fixture
def llm_server(settings):
    """Serves one recorded answer per request; records the requests it got."""
    state = {"answer": None, "status": 200, "requests": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["requests"].append((self.path, self.headers.get("Authorization"), body))
            payload = (ANSWERS / state["answer"]).read_bytes() if state["answer"] else b'{"error": "overloaded"}'
            self.send_response(state["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.LLM_API_URL = f"http://127.0.0.1:{server.server_address[1]}/v1"
    settings.LLM_MODEL = "gpt-4o-mini"
    settings.LLM_API_KEY = "test-key"
    yield state
    server.shutdown()


def test_a_valid_llm_answer_becomes_the_plan_and_its_call_is_recorded(llm_server, sol_candles):
    llm_server["answer"] = "valid_plan.json"
    event = planner_run()

    assert event.payload["origin"] == "llm"
    assert event.payload["rules"]["params"] == {"fast": 12, "slow": 36}
    assert "fallback_reason" not in event.payload
    path, auth, body = llm_server["requests"][0]
    assert (path, auth, body["model"]) == ("/v1/chat/completions", "Bearer test-key", "gpt-4o-mini")
    call = LLMCall.objects.get()
    assert (call.model, call.agent, call.tokens_in, call.tokens_out, call.outcome) == ("gpt-4o-mini", "planner", 212,
                                                                                       31, "ok")  # fmt: skip
    # gpt-4o-mini: $0.00015 per 1k tokens in, $0.0006 per 1k out
    assert call.cost == Decimal("212") * Decimal("0.00015") / 1000 + Decimal("31") * Decimal("0.0006") / 1000
    assert call.correlation_id == event.correlation_id


@pytest.mark.parametrize(
    ("answer", "status", "why"),
    [
        ("invalid_plan.json", 200, "fast (50) must be shorter than slow (20)"),
        ("prose_answer.json", 200, "LLM answer is not a valid plan"),
        (None, 503, "LLM call failed (error)"),
    ],
)
def test_an_answer_that_is_not_a_valid_plan_falls_back_to_the_template_and_says_why(
    llm_server, sol_candles, answer, status, why
):
    llm_server["answer"], llm_server["status"] = answer, status
    event = planner_run()

    assert event.payload["origin"] == "template"
    assert why in event.payload["fallback_reason"]
    assert StrategyPlan.objects.get(active=True).fallback_reason == event.payload["fallback_reason"]
    expected_outcome = "invalid_answer" if status == 200 else "error"
    assert Event.objects.get(type="llm_call").payload["outcome"] == expected_outcome
