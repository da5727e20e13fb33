"""What the job runner runs: the paid features the app registered, known only by their shape.

`features.init_app` registers each feature here by name; the runner and `submit` look them
up, so the generic job code imports no feature. A feature validates its own input, says
the most it can cost (`estimate`), does the work reporting through a `Context`, and owns its
timeout and the failures worth another attempt (`failure` → `Failure`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask, current_app

if TYPE_CHECKING:
    from creditapp.jobs.context import Context

EXTENSION_KEY = "creditapp.runnable"


@dataclass(frozen=True)
class Failure:
    """A feature's failure as the runner reports it: `code` for machines, `message` safe to show,
    `transient` when another attempt may work."""

    code: str
    message: str
    transient: bool = False


class Runnable(Protocol):
    """The part of a feature (`creditapp.features.Feature`) the runner uses."""

    name: str
    mode: str  # "job" (queued) or "instant" (run inside the request)
    stoppable: bool  # a running job may be stopped (it reads ctx.stopped())

    def validate(self, raw: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]: ...
    def estimate(self, params: dict[str, Any], config: Mapping[str, Any]) -> int: ...
    def run(self, params: dict[str, Any], ctx: Context) -> None: ...
    def timeout(self, config: Mapping[str, Any]) -> float: ...
    def failure(self, exc: Exception) -> Failure | None: ...


def register(app: Flask, features: Iterable[Runnable]) -> None:
    """Make these features runnable as jobs in this app."""
    app.extensions.setdefault(EXTENSION_KEY, {}).update({feature.name: feature for feature in features})


def get(name: str) -> Runnable:
    """The feature registered under `name`; KeyError for an unknown one."""
    return current_app.extensions[EXTENSION_KEY][name]


def every() -> list[Runnable]:
    """Every registered feature."""
    return list(current_app.extensions.get(EXTENSION_KEY, {}).values())
