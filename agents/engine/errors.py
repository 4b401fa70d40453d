"""Field-named validation errors: the API turns ``errors`` into a DRF 400 as it is."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad limits, plan or preset parameters; ``errors`` maps a field path to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))
