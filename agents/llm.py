"""The planner's optional LLM: any OpenAI-compatible chat completions API.

Each call is recorded as an ``llm_call`` event (model, prompt hash, tokens, cost, latency). The
answer must be JSON naming a preset and its parameters; anything else is refused by the caller,
which falls back to the templates and records why.
"""

import hashlib
import json
import time
from dataclasses import dataclass
from decimal import Decimal

import requests
from django.conf import settings

# USD per 1,000 tokens (input, output). Unknown models cost 0 and say so in the event's model name.
PRICE_PER_1K_TOKENS: dict[str, tuple[Decimal, Decimal]] = {
    "gpt-4o": (Decimal("0.0025"), Decimal("0.01")),
    "gpt-4o-mini": (Decimal("0.00015"), Decimal("0.0006")),
    "gpt-4.1": (Decimal("0.002"), Decimal("0.008")),
    "gpt-4.1-mini": (Decimal("0.0004"), Decimal("0.0016")),
}


@dataclass(frozen=True)
class LLMAnswer:
    content: str
    model: str
    prompt_hash: str
    tokens_in: int
    tokens_out: int
    cost: Decimal
    latency_ms: int
    outcome: str  # ok | error | timeout
    error: str = ""


def configured() -> bool:
    return bool(settings.LLM_API_URL and settings.LLM_MODEL)


def cost_of(model: str, tokens_in: int, tokens_out: int) -> Decimal:
    price_in, price_out = PRICE_PER_1K_TOKENS.get(model, (Decimal(0), Decimal(0)))
    return (price_in * tokens_in + price_out * tokens_out) / 1000


def chat(messages: list[dict]) -> LLMAnswer:
    model = settings.LLM_MODEL
    body = {"model": model, "messages": messages, "temperature": 0}
    prompt_hash = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:32]
    headers = {"Authorization": f"Bearer {settings.LLM_API_KEY}"} if settings.LLM_API_KEY else {}
    started = time.monotonic()
    try:
        response = requests.post(
            settings.LLM_API_URL.rstrip("/") + "/chat/completions",
            json=body,
            headers=headers,
            timeout=settings.LLM_TIMEOUT_SECONDS,
        )
        latency = int((time.monotonic() - started) * 1000)
        response.raise_for_status()
        data = response.json()
        usage = data.get("usage") or {}
        tokens_in, tokens_out = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        content = data["choices"][0]["message"]["content"]
        answered_model = data.get("model") or model
        return LLMAnswer(
            content,
            answered_model,
            prompt_hash,
            tokens_in,
            tokens_out,
            cost_of(answered_model, tokens_in, tokens_out),
            latency,
            "ok",
        )
    except requests.Timeout:
        return LLMAnswer(
            "",
            model,
            prompt_hash,
            0,
            0,
            Decimal(0),
            int((time.monotonic() - started) * 1000),
            "timeout",
            "no answer within the timeout",
        )
    except (requests.RequestException, ValueError, KeyError, IndexError, TypeError) as exc:
        return LLMAnswer(
            "",
            model,
            prompt_hash,
            0,
            0,
            Decimal(0),
            int((time.monotonic() - started) * 1000),
            "error",
            f"{exc.__class__.__name__}: {exc}"[:500],
        )
