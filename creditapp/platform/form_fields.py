"""Reading a form field the way every settings page does: a value, or an error that says what is wanted."""

from __future__ import annotations


def whole_number(value: str | None, name: str, errors: dict[str, str], low: int, high: int) -> int | None:
    """A whole number in [low, high] from a form field, or an error that says what is wanted."""
    try:
        number = int((value or "").strip())
    except ValueError:
        errors[name] = f"Enter a whole number from {low:,} to {high:,}."
        return None
    if not low <= number <= high:
        errors[name] = f"Enter a whole number from {low:,} to {high:,}."
        return None
    return number
