"""The feature kit: a paid feature is one subclass of `Feature` in one package (docs/features.md).

    from creditapp.features import Context, Failure, Feature, InvalidInput

    class Qr(Feature):
        name = "qr"                       # route segment and credit_spends.feature_used
        title = "QR code"                 # what people read
        mode = "instant"                  # "job": queued; "instant": runs inside the request
        schema = {"type": "object", "properties": {"text": {"type": "string", "maxLength": 500}},
                  "required": ["text"], "additionalProperties": False}

        def estimate(self, params, config):
            return price(config, "qr", 1)  # the most it can cost: what the hold takes

        def run(self, params, ctx):
            ctx.result(data=make_png(params["text"]), content_type="image/png")

Everything else is the kit's: validation from `schema`, the page and its generated form, the
htmx and no-JS posts, `POST /api/features/<name>` and its OpenAPI entry, rate limits, key
scopes and monthly limits, Idempotency-Key replay, the job page and typed result download,
History and CSV rows, usage and pricing (`registry`, `views`, `api_spec`). Besides the
required part, a feature may set the words its pages use (`noun`, `action`, `working`,
`again`, `unit`, `headline`, `blurb`), its own page template, and say it can stop early
(`stoppable`) or streams text as it works (`streams`).

`Context` (what `run` reports through) and `Failure` live with the job runner, which builds
them (`creditapp.jobs`); they are re-exported here, where a feature finds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from creditapp.config import price
from creditapp.features import inputs
from creditapp.jobs.context import Context
from creditapp.jobs.runnable import Failure
from creditapp.platform.input_checks import InvalidInput

__all__ = ["Context", "Failure", "Feature", "InvalidInput", "price"]

MODES = ("job", "instant")


class Feature:
    """A paid feature. Subclass it once per package, set the class attributes, write `estimate`
    and `run`; override the rest only when the defaults do not fit."""

    # --- what every feature sets -----------------------------------------------------------
    name: ClassVar[str]  # route segment and credit_spends.feature_used (≤ 64 characters)
    title: ClassVar[str]  # what people read: History, CSV, pricing, usage, its pages
    mode: ClassVar[str] = "job"  # "job": queued on the job queue; "instant": runs inside the request
    # JSON Schema of the input (type object, properties, required, additionalProperties
    # false): the one source for validation, the page's form, the API body, the OpenAPI entry.
    schema: ClassVar[dict[str, Any]]
    template: ClassVar[str | None] = None  # its own page template, else the form from the schema

    # --- optional: where it lives and the words its pages use -------------------------------
    route: ClassVar[str | None] = None  # the URL segment when it is not `name`
    noun: ClassVar[str] = "result"  # what one use makes: "Your result", "the result will be here"
    action: ClassVar[str | None] = None  # its link and submit button; default: the title
    working: ClassVar[str] = "Working"  # the job's running step
    again: ClassVar[str | None] = None  # the job page's link back; default: "<action> again"
    unit: ClassVar[str] = "use"  # the pricing page's "about N uses"
    headline: ClassVar[str | None] = None  # its card on the home page; default: the title
    blurb: ClassVar[str] = ""  # one line under the card's headline
    quote_template: ClassVar[str | None] = None  # its own price fragment (with its own page)
    result_template: ClassVar[str | None] = None  # how the job page shows its result
    stoppable: ClassVar[bool] = False  # a running job may be stopped (run reads ctx.stopped())
    streams: ClassVar[bool] = False  # the job page shows ctx.partial text as it arrives

    # --- what a feature writes --------------------------------------------------------------

    def estimate(self, params: dict[str, Any], config: Mapping[str, Any]) -> int:
        """The most this use can cost, in credits (at least 1): what the hold takes."""
        raise NotImplementedError(f"{type(self).__name__}.estimate")

    def run(self, params: dict[str, Any], ctx: Context) -> None:
        """Do the work; give the result with ctx.result(…), and what it cost with ctx.used(…)."""
        raise NotImplementedError(f"{type(self).__name__}.run")

    def summary(self, params: dict[str, Any]) -> str:
        """A short line about one use, for History, CSV and the job page."""
        return ""

    def timeout(self, config: Mapping[str, Any]) -> float:
        """Seconds one attempt of `run` may take (FEATURE_TIMEOUT_SECONDS unless overridden)."""
        return float(config.get("FEATURE_TIMEOUT_SECONDS") or 60.0)

    def failure(self, exc: Exception) -> Failure | None:
        """What a failure of `run` means (code, message safe to show, transient?), or None."""
        return None

    def check(self, params: dict[str, Any], config: Mapping[str, Any]) -> None:
        """Checks beyond the schema (raise InvalidInput); nothing by default."""

    # --- what the kit does with it (rarely overridden) --------------------------------------

    @property
    def segment(self) -> str:
        """The URL segment: /features/<segment>, /api/features/<segment>."""
        return self.route or self.name

    @property
    def action_label(self) -> str:
        """The feature's link and button words."""
        return self.action or self.title

    @property
    def again_label(self) -> str:
        """The job page's link back to the feature."""
        return self.again or f"{self.action_label} again"

    @property
    def page_endpoint(self) -> str:
        """The endpoint of its page (`features.<segment>_page`)."""
        return f"features.{self.segment}_page"

    def validate(self, raw: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
        """The input checked against `schema` (defaults filled in), then `check`; InvalidInput otherwise."""
        params = inputs.validate(self.schema, raw)
        self.check(params, config)
        return params

    def defaults(self) -> dict[str, Any]:
        """The input's defaults (from the schema), for the form and the prices shown."""
        return inputs.defaults(self.schema)

    def cheapest(self, config: Mapping[str, Any]) -> int:
        """The least one use costs: the estimate at the default input (the balance badge's
        "low" state is below the cheapest use of any feature)."""
        return int(self.estimate(self.defaults(), config))

    def typical(self, config: Mapping[str, Any]) -> int:
        """What a use costs as the pricing page counts "about N uses": the estimate at the defaults."""
        return int(self.estimate(self.defaults(), config))

    def uses(self, count: int) -> str:
        """The pricing page's words for `count` uses."""
        return f"{count:,} {self.unit}{'' if count == 1 else 's'}"

    def page_context(self, params: dict[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
        """More for its own page template (a price list, say); nothing by default."""
        return {}

    @classmethod
    def check_definition(cls) -> None:
        """Refuse (at start) a subclass missing what every feature sets."""
        for attribute in ("name", "title", "schema"):
            if not getattr(cls, attribute, None):
                raise TypeError(f"{cls.__module__}.{cls.__name__} must set `{attribute}`")
        if cls.mode not in MODES:
            raise TypeError(f"{cls.__name__}.mode must be one of {MODES}, got {cls.mode!r}")
        if len(cls.name) > 64 or not all(c.isalnum() or c == "_" for c in cls.name):
            raise TypeError(f"{cls.__name__}.name must be letters, digits and _ (≤ 64), got {cls.name!r}")
        segment = cls.route or cls.name
        if not all(c.isalnum() or c == "_" for c in segment):
            raise TypeError(f"{cls.__name__}.route must be letters, digits and _, got {segment!r}")
        inputs.check_schema(cls.schema, cls.__name__)
