"""OpenAI's Responses API (`POST {OPENAI_API_BASE}/responses`, `stream: true`) through the official SDK.

The events are read in a thread of their own (`Events`): the worker's thread waits for the
next one only briefly, so it sees the person's Stop and the deadline even while the provider
is silent (before the first token, say), and stopping cuts the connection at once, even in
the middle of a read, so the provider stops writing. Each answer has its own SDK client, and
so its own connection, since that connection is cut to stop; the SDK's own retries are off,
as a failed call is the job runner's to try again (`Feature.failure`). Under `make run`
without an `OPENAI_API_KEY`, and in the tests, the base URL is the stand-in's
(`emulators/openai`, docs/stand-ins.md).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
from collections.abc import Mapping
from typing import Any

import openai
from openai import OpenAI, Stream
from openai.types.responses import ResponseStreamEvent

log = logging.getLogger("creditapp.features.assistant")

CONNECT_SECONDS = 10.0


class ProviderError(Exception):
    """The answer could not be had; the message is safe to show a person.

    `code` names it for machines; a `transient` one is worth another attempt.
    """

    def __init__(self, message: str, code: str, transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


class StreamEnded(Exception):
    """The stream ended without a last event saying how the answer ended (a dropped connection)."""


class Events:
    """One answer's stream, read in a thread of its own; close it (or leave its `with`) to stop."""

    _END = object()

    def __init__(self, client: OpenAI, stream: Stream[ResponseStreamEvent]) -> None:
        self._client = client
        self._stream = stream
        self._queue: queue.Queue[Any] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="assistant-stream", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                self._queue.put(event)
        except Exception as exc:  # noqa: BLE001 - handed to the worker's thread, which decides
            self._queue.put(exc)
        self._queue.put(self._END)

    def next(self, wait: float) -> ResponseStreamEvent | None:
        """The next event, or None when none came within `wait` seconds; raises what reading
        raised (an SDK error), and StreamEnded at the end of the stream."""
        try:
            item = self._queue.get(timeout=wait)
        except queue.Empty:
            return None
        if item is self._END:
            raise StreamEnded()
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        """Cut the connection (a read waiting on it ends at once) and let the reading thread end."""
        if self._reader.is_alive():
            network = self._stream.response.extensions.get("network_stream")
            connection = network.get_extra_info("socket") if network is not None else None
            if connection is not None:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._reader.join(timeout=2)  # its read fails at once; it closes the response itself
        self._stream.close()
        self._client.close()

    def __enter__(self) -> Events:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def client_for(config: Mapping[str, Any]) -> OpenAI:
    """A new SDK client for OPENAI_API_KEY at OPENAI_API_BASE; ProviderError without a key."""
    api_key = config.get("OPENAI_API_KEY")
    if not api_key:
        raise ProviderError("The assistant is not set up on this server (no OpenAI key).", "not_configured")
    base_url = (config.get("OPENAI_API_BASE") or "https://api.openai.com/v1").rstrip("/")
    return OpenAI(api_key=api_key, base_url=base_url, max_retries=0)


def answer(config: Mapping[str, Any], prompt: str, max_output_tokens: int, timeout: float) -> Events:
    """Ask for the answer, streamed: its events as OpenAI sends them.

    `timeout` bounds the wait for any byte (OPENAI_TIMEOUT_SECONDS at most); the connection
    waits 10 s at most.
    """
    read = min(float(config.get("OPENAI_TIMEOUT_SECONDS") or 60), timeout)
    client = client_for(config)
    try:
        stream = client.responses.create(
            model=config.get("OPENAI_ASSISTANT_MODEL") or "gpt-4o-mini",
            input=prompt,
            max_output_tokens=max_output_tokens,
            stream=True,
            store=False,  # nothing here reads a response back: OpenAI need not keep it
            timeout=openai.Timeout(read, connect=min(CONNECT_SECONDS, read)),
        )
    except openai.APIError as exc:
        client.close()
        raise failed_before_answer(exc) from exc
    return Events(client, stream)


def failed_before_answer(exc: openai.APIError) -> ProviderError:
    """What an SDK error before any text means: timeouts, lost connections, 429 and 5xx are
    transient (tried again); any other refusal is not."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("The assistant service took too long to answer.", "provider_timeout", True)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("The assistant service could not be reached.", "provider_unreachable", True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        log.warning("openai responses answered %s: %.300s", status, exc.message)
        if status == 429 or status >= 500:
            return ProviderError(
                f"The assistant service is busy or failing ({status}).", "provider_unavailable", True
            )
        return ProviderError(f"The assistant service refused the request ({status}).", "provider_refused")
    log.warning("openai responses failed: %s", exc)
    return ProviderError("The assistant service failed.", "provider_unavailable", True)


def failed_event(event: ResponseStreamEvent) -> ProviderError:
    """A stream that ended in `response.failed` or an `error` event, before any text."""
    error = getattr(getattr(event, "response", None), "error", None) or event
    log.warning(
        "openai responses stream failed: %s %s", getattr(error, "code", ""), getattr(error, "message", "")
    )
    return ProviderError("The assistant service failed to answer.", "provider_unavailable", True)
