"""What an HTTP error says to a person: the product's words, never Werkzeug's defaults.

A view that aborts with its own description keeps it; one that aborts with a bare status
(`abort(404)`) gets the sentence below, so every error page reads like the rest of the site.
"""

from __future__ import annotations

from werkzeug.exceptions import HTTPException

WORDS = {
    400: "That request could not be understood. Go back and try again.",
    401: "Please sign in to continue.",
    403: "You do not have access to that.",
    404: (
        "There is nothing at this address, or it belongs to another account. "
        "Check the link, or start again from the home page."
    ),
    405: "That page cannot be opened that way. Use the buttons and links on the site instead.",
    406: "That cannot be sent in a form your browser accepts.",
    408: "That took too long to arrive. Please try again.",
    409: "That clashes with an earlier request. Reload the page and try again.",
    410: "This is no longer available.",
    411: "That request was sent without saying how long it is.",
    413: "That was too large to send.",
    414: "That address is too long.",
    415: "That kind of upload is not accepted.",
    416: "That part of the file does not exist.",
    422: "Please check what you entered and try again.",
    429: "Too many requests in a short time. Wait a moment, then try again.",
    500: "Something went wrong on our side. Nothing was charged twice; please try again.",
    501: "That is not something this site does.",
    502: "A service we rely on did not answer as expected. Please try again shortly.",
    503: "The service is briefly unavailable. Please try again.",
    504: "A service we rely on took too long to answer. Please try again shortly.",
}
FALLBACK = "That request could not be completed. Go back and try again."


def words_for(exc: HTTPException) -> str:
    """The exception's own description when a view gave one, else the product's sentence for its status."""
    default = type(exc).description
    if exc.description and exc.description != default:
        return exc.description
    return WORDS.get(exc.code or 500, FALLBACK)
