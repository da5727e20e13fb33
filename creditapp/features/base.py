"""What every paid feature provides, and the error for input it refuses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class InvalidInput(ValueError):
    """The request is malformed; nothing was charged. `field` names the culprit."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Feature(Protocol):
    """A paid feature: parse the input (and its own stored parameters), price it, run it.

    `name` is what the ledger records in `credit_spends.feature_used`; `title` is
    what people read in their history.
    """

    name: str
    title: str

    def parse(self, raw: Mapping[str, Any], config: Mapping[str, Any]) -> Any:
        """Validate raw input into the feature's parameters, or raise InvalidInput."""
        ...

    def cost(self, params: Any, config: Mapping[str, Any]) -> int:
        """Credits this use costs."""
        ...

    def run(self, params: Any, config: Mapping[str, Any]) -> Any:
        """Do the work (on a job worker); any exception means the user is not charged.

        The result has `png` bytes, which the worker stores.
        """
        ...
