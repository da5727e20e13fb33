"""What every paid feature provides, and the error for input it refuses (`InvalidInput`).

A feature runs on a job worker (`creditapp.jobs.runner`), which knows it only through this
shape: its timeout, its failures worth another attempt and its result's bytes are its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from creditapp.jobs.runnable import Failure
from creditapp.platform.input_checks import InvalidInput

__all__ = ["Failure", "Feature", "InvalidInput"]


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

    def run(self, params: Any, config: Mapping[str, Any], timeout: float | None = None) -> Any:
        """Do the work (on a job worker) within `timeout` seconds; an exception means nobody is charged."""
        ...

    def timeout(self, config: Mapping[str, Any]) -> float:
        """Seconds one attempt of `run` may take."""
        ...

    def failure(self, exc: Exception) -> Failure | None:
        """What a failure of `run` means (its code, message, whether another attempt may work), or None."""
        ...

    def result_bytes(self, result: Any) -> bytes:
        """What the worker stores for the person to fetch."""
        ...
