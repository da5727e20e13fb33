"""Stripe-shaped API errors raised by the Stripe stand-in."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error rendered as Stripe renders it: ``{"error": {type, code?, param?, message}}``.

    Stripe leaves ``code`` and ``param`` out when an error has none (an invalid boolean or
    enum value has no code), so they are never sent as ``null``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        """Return the JSON body Stripe would send for this error."""
        error: dict[str, Any] = {"type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error["message"] = self.message
        return {"error": error}


def no_such(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeError:
    """Return Stripe's ``resource_missing`` error for an unknown id."""
    return StripeError(f"No such {kind}: '{object_id}'", status=status, code="resource_missing", param=param)


def missing_param(param: str, message: str | None = None) -> StripeError:
    """Return Stripe's ``parameter_missing`` error."""
    return StripeError(message or f"Missing required param: {param}.", code="parameter_missing", param=param)


def invalid_param(param: str, message: str, code: str | None = None) -> StripeError:
    """Return Stripe's error for a well-formed but unacceptable value (no code unless given)."""
    return StripeError(message, code=code, param=param)


def invalid_integer(param: str, value: Any) -> StripeError:
    """Return Stripe's ``parameter_invalid_integer`` error."""
    return StripeError(f"Invalid integer: {value}", code="parameter_invalid_integer", param=param)


def unknown_param(param: str) -> StripeError:
    """Return Stripe's ``parameter_unknown`` error for a name Stripe does not have."""
    return StripeError(f"Received unknown parameter: {param}", code="parameter_unknown", param=param)


def state_error(message: str, code: str | None = None, *, param: str | None = None) -> StripeError:
    """Return an error for a request the object's current state does not allow."""
    return StripeError(message, code=code, param=param)
