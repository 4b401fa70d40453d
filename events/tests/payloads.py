"""Event payloads the tests post and emit, valid for their type's schema."""

LLM_CALL = {
    "model": "m",
    "agent": "external",
    "prompt_hash": "h",
    "tokens_in": 1,
    "tokens_out": 2,
    "cost": "0.01",
    "latency_ms": 5,
}
