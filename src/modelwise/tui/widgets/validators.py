"""Input validators that say why a value is refused."""

from __future__ import annotations

import math

from textual.validation import ValidationResult, Validator


class BudgetValidator(Validator):
    """A task budget in USD: empty (the task type's default) or a finite number above zero."""

    def __init__(self) -> None:
        super().__init__(failure_description="the budget must be a number of USD above 0")

    def validate(self, value: str) -> ValidationResult:
        text = value.strip().removeprefix("$").strip()
        if not text:
            return self.success()
        try:
            x = float(text)
        except ValueError:
            return self.failure(f"budget {value.strip()!r} is not a number of USD")
        if not math.isfinite(x):
            return self.failure(f"budget must be a finite number of USD, not {value.strip()!r}")
        if x <= 0:
            return self.failure(f"budget must be more than $0, not {value.strip()}")
        return self.success()
