"""Request parameters as Stripe checks them: declared types, unknown names, unimplemented ones.

Every ``/v1`` route declares the parameters it implements (``Params``); everything else
is refused, never ignored: a name Stripe has but the stand-in does not implement gets a
400 that says so, a name Stripe does not have gets ``parameter_unknown``, nested or not.
Values arrive as form strings (the SDK's encoding) or JSON; they come out typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import StripeError, invalid_integer, invalid_param, missing_param, unknown_param

_INTEGER = re.compile(r"-?\d+")
MAX_STRING = 5000


def path_of(parent: str, name: str | int) -> str:
    """Return the bracketed parameter path Stripe reports: ``line_items[0][price]``."""
    return f"{parent}[{name}]" if parent else str(name)


class Field:
    """One parameter's type; ``parse`` returns the typed value or raises Stripe's error."""

    kind = "field"
    # Optional fields accept "" as "unset" where Stripe does (nullable on update).
    empty_unsets = False

    def parse(self, value: Any, param: str) -> Any:
        raise NotImplementedError

    def __call__(self, value: Any, param: str) -> Any:
        if value == "":
            if self.empty_unsets:
                return None
            raise StripeError(
                f"You passed an empty string for '{param}'. We assume empty values are an attempt "
                f"to unset a parameter; however '{param}' cannot be unset. You should remove "
                f"'{param}' from your request or supply a non-empty value.",
                code="parameter_invalid_empty",
                param=param,
            )
        return self.parse(value, param)


@dataclass
class String(Field):
    """A string of at most ``max_length`` characters."""

    max_length: int = MAX_STRING
    empty_unsets: bool = False
    kind = "string"

    def parse(self, value: Any, param: str) -> str:
        if isinstance(value, (dict, list)):
            raise invalid_param(param, f"Invalid string: {value!r}")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if len(text) > self.max_length:
            raise invalid_param(
                param, f"Invalid string: {text[:20]}...; must be at most {self.max_length} characters"
            )
        return text


@dataclass
class Integer(Field):
    """An integer (form-encoded as digits), optionally bounded."""

    minimum: int | None = None
    maximum: int | None = None
    kind = "integer"

    def parse(self, value: Any, param: str) -> int:
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and _INTEGER.fullmatch(value.strip()))
        ):
            raise invalid_integer(param, value)
        number = int(value)
        if self.minimum is not None and number < self.minimum:
            raise StripeError(
                f"This value must be greater than or equal to {self.minimum}.",
                code="parameter_invalid_integer",
                param=param,
            )
        if self.maximum is not None and number > self.maximum:
            raise StripeError(
                f"This value must be less than or equal to {self.maximum}.",
                code="parameter_invalid_integer",
                param=param,
            )
        return number


class Timestamp(Integer):
    """A Unix timestamp (an integer)."""

    kind = "timestamp"


class Boolean(Field):
    """``true`` or ``false``."""

    kind = "boolean"

    def parse(self, value: Any, param: str) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise invalid_param(param, f"Invalid boolean: {value}")


class BooleanOrEnum(Boolean):
    """``true``/``false`` or one of a few strings (Stripe's ``off_session``: ``one_off``, ``recurring``)."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def parse(self, value: Any, param: str) -> bool | str:
        if isinstance(value, str) and value in self.choices:
            return value
        return super().parse(value, param)


class Enum(Field):
    """One of a fixed set of strings."""

    kind = "enum"

    def __init__(self, *choices: str, empty_unsets: bool = False) -> None:
        self.choices = choices
        self.empty_unsets = empty_unsets

    def parse(self, value: Any, param: str) -> str:
        if not isinstance(value, str) or value not in self.choices:
            options = list(self.choices)
            if len(options) > 12:
                raise invalid_param(
                    param, f"Invalid {param}: {value!r} is not one of the values Stripe accepts"
                )
            listed = ", ".join(options[:-1]) + f", or {options[-1]}" if len(options) > 1 else options[0]
            raise invalid_param(param, f"Invalid {param}: must be one of {listed}")
        return value


class Metadata(Field):
    """Stripe's ``metadata``: string keys (≤ 40 chars) to string values (≤ 500); "" unsets."""

    kind = "metadata"
    empty_unsets = True

    def parse(self, value: Any, param: str) -> dict[str, str]:
        if not isinstance(value, dict):
            raise invalid_param(param, "Invalid object")
        result: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                raise invalid_param(path_of(param, key), f"Invalid string: {item!r}")
            if len(str(key)) > 40:
                raise invalid_param(path_of(param, key), "Keys can be at most 40 characters long.")
            if len(str(item)) > 500:
                raise invalid_param(path_of(param, key), "Values can be at most 500 characters long.")
            result[str(key)] = str(item)
        return result


class Array(Field):
    """A list of ``item`` values (form-encoded as ``name[0]=…`` or ``name[]=…``)."""

    kind = "array"

    def __init__(self, item: Field, *, max_items: int | None = None) -> None:
        self.item = item
        self.max_items = max_items

    def parse(self, value: Any, param: str) -> list[Any]:
        if isinstance(value, dict) and all(str(k).isdigit() for k in value):
            value = [value[k] for k in sorted(value, key=int)]
        if not isinstance(value, list):
            raise invalid_param(param, "Invalid array")
        if self.max_items is not None and len(value) > self.max_items:
            raise invalid_param(param, f"This list can have at most {self.max_items} items.")
        return [self.item(item, path_of(param, index)) for index, item in enumerate(value)]


class Unsupported(Field):
    """A parameter Stripe has that the stand-in does not implement: always refused."""

    kind = "unsupported"

    def __call__(self, value: Any, param: str) -> Any:
        raise invalid_param(
            param,
            f"`{param}` is a Stripe parameter the local Stripe stand-in does not implement, so it "
            "refuses it rather than ignore it. Remove it from the request, or implement it in "
            "emulators/stripe.",
        )


@dataclass
class Hash(Field):
    """A nested object with its own declared fields; anything else is refused."""

    fields: dict[str, Field] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    unsupported: Iterable[str] = ()
    kind = "hash"

    def __post_init__(self) -> None:
        self.fields = {**{name: Unsupported() for name in _names(self.unsupported)}, **self.fields}

    def parse(self, value: Any, param: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise invalid_param(param, "Invalid object")
        return check(self, value, param)


class RangeFilter(Field):
    """A list filter on a timestamp: an exact value or ``{gt, gte, lt, lte}``."""

    kind = "range"

    def parse(self, value: Any, param: str) -> dict[str, int]:
        if not isinstance(value, dict):
            return {"eq": Timestamp()(value, param)}
        bounds = {}
        for op, bound in value.items():
            if op not in {"gt", "gte", "lt", "lte"}:
                raise unknown_param(path_of(param, op))
            bounds[op] = Timestamp()(bound, path_of(param, op))
        return bounds


def Params(  # noqa: N802 - reads as a declaration, like the dataclass it builds
    fields: dict[str, Field] | None = None,
    *,
    required: tuple[str, ...] = (),
    unsupported: str = "",
    expand: bool = True,
) -> Hash:
    """Declare an endpoint's parameters (``expand`` is accepted everywhere, as Stripe does)."""
    declared = dict(fields or {})
    if expand:
        declared.setdefault("expand", Array(String()))
    return Hash(declared, required, unsupported)


def List(  # noqa: N802
    fields: dict[str, Field] | None = None, *, unsupported: str = "", created: bool = True
) -> Hash:
    """Declare a list endpoint: pagination (``limit``, cursors) plus its filters."""
    declared: dict[str, Field] = {
        "limit": Integer(1, 100),
        "starting_after": String(),
        "ending_before": String(),
        **({"created": RangeFilter()} if created else {}),
        **(fields or {}),
    }
    return Params(declared, unsupported=unsupported)


def check(schema: Hash, raw: dict[str, Any], parent: str = "") -> dict[str, Any]:
    """Validate ``raw`` against ``schema``; return the typed values (absent ones left out)."""
    result: dict[str, Any] = {}
    for name, value in raw.items():
        param = path_of(parent, name)
        declared = schema.fields.get(str(name))
        if declared is None:
            raise unknown_param(param)
        result[str(name)] = declared(value, param)
    for name in schema.required:
        if result.get(name) is None:
            raise missing_param(path_of(parent, name))
    return result


def _names(names: Iterable[str]) -> list[str]:
    if isinstance(names, str):
        return names.split()
    return list(names)
