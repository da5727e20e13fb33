"""Stripe-shaped API errors raised by the emulator's Stripe code."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error rendered as Stripe renders it: ``{"error": {type, code, param, message}}``."""

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
        error: dict[str, Any] = {
            "type": self.type,
            "code": self.code,
            "param": self.param,
            "message": self.message,
        }
        if self.code:
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        return {"error": error}


def no_such(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeError:
    """Return Stripe's ``resource_missing`` error for an unknown id."""
    return StripeError(f"No such {kind}: '{object_id}'", status=status, code="resource_missing", param=param)


def missing_param(param: str, message: str | None = None) -> StripeError:
    """Return Stripe's ``parameter_missing`` error."""
    return StripeError(message or f"Missing required param: {param}.", code="parameter_missing", param=param)


def invalid_param(param: str, message: str) -> StripeError:
    """Return Stripe's ``parameter_invalid`` style error for a bad value."""
    return StripeError(message, code="parameter_invalid", param=param)
