"""Errors as OpenAI sends them: `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

from flask import Response, jsonify

# What OpenAI answers when it fails on its side, by status.
SERVER_FAILURES = {
    429: ("Rate limit reached for requests. Please try again in 1s.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
}
STREAM_FAILURE = (
    "An error occurred while processing your request. You can retry your request, or contact us "
    "through our help center at help.openai.com if the error persists."
)


class ApiError(Exception):
    """A request OpenAI would refuse; the view answers it with `response()`."""

    def __init__(
        self, status: int, message: str, type_: str, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def response(self) -> tuple[Response, int]:
        """The JSON body and status OpenAI sends for this error."""
        body = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return jsonify(error=body), self.status


def invalid(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    """A 400 `invalid_request_error`."""
    return ApiError(400, message, "invalid_request_error", param, code)


def missing_key() -> ApiError:
    """The 401 for a request without `Authorization: Bearer …`."""
    return ApiError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header "
        "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        "invalid_request_error",
        code="invalid_api_key",
    )


def server_failure(status: int) -> ApiError:
    """The error OpenAI sends when it fails a request with `status` (a 4xx or 5xx)."""
    message, type_, code = SERVER_FAILURES.get(
        status,
        (
            f"The stand-in failed this request on purpose ({status}).",
            "server_error" if status >= 500 else "invalid_request_error",
            None,
        ),
    )
    return ApiError(status, message, type_, code=code)
