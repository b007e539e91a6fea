"""Request-head limits for uvicorn: size, header count, URL length, and a deadline for the head.

uvicorn's default parser (httptools) has no limit on a request head: a 1 MiB header reached the app and a
32 MiB one was buffered whole. Neither stack has a deadline for the head: a connection that sent half a head,
or nothing at all, was never closed, so a few hundred of them held every socket. These protocol subclasses
refuse such requests before the app sees them, with the service's JSON error shape, and close the connection.

Limits come from the ``AUTHCHAOS_HTTP_*`` settings, read once per process (a protocol is built per connection).
Once a head is complete, ``data_received`` costs one attribute check more than uvicorn's own.
"""

from __future__ import annotations

import asyncio
import functools
import http
import json
import logging
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from authchaos_reference.config import ConfigError, load_settings

try:
    import httptools
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - uvicorn[standard] installs httptools wherever it has a wheel
    HAVE_HTTPTOOLS = False
else:
    HAVE_HTTPTOOLS = True

log = logging.getLogger("authchaos.http")


@dataclass(frozen=True)
class Refusal:
    """An answer given instead of the app's: the whole response but uvicorn's date/server headers."""

    status: int
    code: str
    message: str
    status_line: bytes
    tail: bytes  # our headers, the blank line and the JSON body

    @classmethod
    def build(cls, status: int, code: str, message: str) -> Refusal:
        body = json.dumps({"error": code, "message": message}, separators=(",", ":")).encode()
        status_line = f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode()
        head = f"content-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
        return cls(status, code, message, status_line, head.encode() + body)


@dataclass(frozen=True)
class HttpLimits:
    """The limits of one process, and the refusals they give (built once, not per connection)."""

    max_header_bytes: int
    max_headers: int
    max_url_bytes: int
    header_timeout_s: float
    body_timeout_s: float
    too_large: Refusal
    too_many: Refusal
    uri_too_long: Refusal
    timeout: Refusal
    body_timeout: Refusal


@functools.cache
def http_limits() -> HttpLimits:
    """The limits from the environment, read once; a bad value raises ``ConfigError`` (the service refuses to start)."""
    s = load_settings()
    return HttpLimits(
        max_header_bytes=s.http_max_header_bytes,
        max_headers=s.http_max_headers,
        max_url_bytes=s.http_max_url_bytes,
        header_timeout_s=s.http_header_timeout_s,
        body_timeout_s=s.http_body_timeout_s,
        body_timeout=Refusal.build(
            408, "request_timeout", f"Request body not received within {s.http_body_timeout_s:g} s"
        ),
        too_large=Refusal.build(431, "header_too_large", f"Request header block over {s.http_max_header_bytes} bytes"),
        too_many=Refusal.build(431, "header_too_large", f"More than {s.http_max_headers} header fields"),
        uri_too_long=Refusal.build(414, "uri_too_long", f"Request target over {s.http_max_url_bytes} bytes"),
        timeout=Refusal.build(
            408, "request_timeout", f"Request head not received within {s.http_header_timeout_s:g} s"
        ),
    )


class _Refused(Exception):
    """Raised from a parser callback to stop ``feed_data``; the refusal itself is on the protocol."""


class _HeadGuard:
    """What both protocols share: the head deadline and writing a refusal. Comes before the uvicorn class."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    server_state: ServerState
    client: tuple[str, int] | None

    def _init_guard(self) -> None:
        self._limits = http_limits()
        self._head_open = True  # the bytes arriving belong to a request head (or to the wait for one), not a body
        self._head_bytes = 0  # received since this head began (bounds a head still incomplete after a read)
        self._head_size = 0  # its target and header fields as parsed (bounds a head complete within one read)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._pending: Refusal | None = None  # found while an earlier request is answered: sent after it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]  # the uvicorn protocol after this mixin
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def _busy(self) -> bool:
        """An earlier request is still being answered (a pipelined head then waits on us, not on the client)."""
        raise NotImplementedError

    def _receiving_body(self) -> bool:
        """The request being answered is still sending its body (or trailers)."""
        return False

    def _abort(self, refusal: Refusal) -> None:
        """Mid-request: answer ``refusal`` if the app has not begun its answer, then close (the app sees a
        disconnect)."""
        cycle = getattr(self, "cycle", None)
        log.warning("refused a request from %s: %d %s (after its head)", self._peer(), refusal.status, refusal.code)
        if cycle is not None and not cycle.response_started:
            self.transport.write(refusal.status_line + refusal.tail)
        self.transport.close()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self._limits.header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_complete(self) -> None:
        self._head_open = False
        self._cancel_head_timer()

    def _next_head(self) -> None:
        """A request was read to its end: what comes next is a new head (its deadline starts at its first byte)."""
        self._head_open = True
        self._head_bytes = self._head_size = 0
        self._cancel_body_timer()

    def _arm_body_timer(self) -> None:
        """A body still to come: it must arrive within ``body_timeout_s`` of the head, or the request ends (408).
        Without it, a few hundred requests that never send their body hold every admission slot."""
        if self._body_timer is None:
            self._body_timer = self.loop.call_later(self._limits.body_timeout_s, self._body_timed_out)

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if not self.transport.is_closing() and self._receiving_body():
            self._abort(self._limits.body_timeout)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._head_open:
            return
        if self._busy():
            self._arm_head_timer()
        elif self._head_bytes:
            self._refuse(self._limits.timeout)
        else:
            log.info(
                "closed a connection from %s that sent nothing in %g s", self._peer(), self._limits.header_timeout_s
            )
            self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "unknown"

    def _refuse(self, refusal: Refusal) -> None:
        """Answer ``refusal`` as raw HTTP/1.1 and close; every later byte of this connection is ignored."""
        self._cancel_head_timer()
        self._head_open = True  # keeps data_received on the slow path, which drops data once refused
        if self.transport.is_closing():
            return
        if self._busy() and self._receiving_body():  # this request's own body or trailers: end it now
            self._abort(refusal)
            return
        if self._busy():  # pipelined behind a request still being answered: answers keep their order
            self._pending = refusal
            return
        log.warning(
            "refused a request from %s: %d %s (%s)", self._peer(), refusal.status, refusal.code, refusal.message
        )
        out = [refusal.status_line]
        for name, value in self.server_state.default_headers:
            out += [name, b": ", value, b"\r\n"]
        out.append(refusal.tail)
        self.transport.write(b"".join(out))
        self.transport.close()


FRAMING_PER_CHUNK = 24  # a chunk's size line and CRLFs: "ffffffff;ext\r\n...\r\n" with room to spare

if HAVE_HTTPTOOLS:

    class LimitedHttpToolsProtocol(_HeadGuard, HttpToolsProtocol):
        """uvicorn's httptools protocol with head limits: httptools itself has none."""

        def __init__(
            self,
            config: Config,
            server_state: ServerState,
            app_state: dict[str, Any],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self._init_guard()
            self._refusal: Refusal | None = None  # set by a parser callback that raised _Refused
            self._max_head_bytes = self._limits.max_header_bytes
            self._max_headers = self._limits.max_headers
            self._framing = 0  # bytes after the head that were not body (chunk sizes, trailers), this request
            self._chunks = 0

        def data_received(self, data: bytes) -> None:
            if not self._head_open:
                self._body_received(data)
                return
            # uvicorn's data_received, counting the head's bytes: checked after the parser had them, since one
            # read may end a small head and carry a body
            if self._pending is not None:  # refused, answered once the responses before it are out
                return
            self._unset_keepalive_if_required()
            self._head_bytes += len(data)
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                if self._refusal is not None:
                    self._refuse(self._refusal)
                else:
                    msg = "Invalid HTTP request received."
                    self.logger.warning(msg)
                    self.send_400_response(msg)
                return
            except httptools.HttpParserUpgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
                return
            self._after_head_read()

        def _after_head_read(self) -> None:
            """The parser callbacks may have ended the head (or the whole request) during that read."""
            if self._head_open and self._head_bytes:  # a head still incomplete after this read
                if self._head_bytes > self._max_head_bytes:
                    self._refuse(self._limits.too_large)
                elif self._head_timer is None:
                    self._arm_head_timer()
            elif not self._head_open:  # the head is in, its body is not: the body's deadline starts
                self._arm_body_timer()

        def _body_received(self, data: bytes) -> None:
            """uvicorn's path, and a count of what was not body (chunk framing, trailers), which httptools would
            otherwise buffer without limit (an endless trailer line)."""
            self._framing += len(data)
            super().data_received(data)
            budget = self._max_head_bytes + FRAMING_PER_CHUNK * self._chunks
            if self._framing > budget and not self.transport.is_closing():
                self._abort(self._limits.too_large)

        def send_400_response(self, msg: str) -> None:
            # A refusal raised while uvicorn's own path was feeding (a head pipelined behind a body) lands here.
            if self._refusal is not None:
                self._refuse(self._refusal)
            else:
                super().send_400_response(msg)

        def _busy(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._pending is not None and not self._busy():  # every response before the refusal is out
                refusal, self._pending = self._pending, None
                self._refuse(refusal)

        # The parser callbacks run per request and per header: uvicorn's bodies are inlined (no super() frame).

        def on_url(self, url: bytes) -> None:
            self.url += url
            self._head_size += len(url)
            if len(self.url) > self._limits.max_url_bytes:
                self._refusal = self._limits.uri_too_long
                raise _Refused

        def on_header(self, name: bytes, value: bytes) -> None:
            if not self._head_open:  # a trailer: never part of the request's headers (a forged X-Forwarded-For)
                return
            size = self._head_size = self._head_size + len(name) + len(value) + 4  # "name: value\r\n"
            headers = self.headers
            if size > self._max_head_bytes or len(headers) >= self._max_headers:
                self._refusal = self._limits.too_large if size > self._max_head_bytes else self._limits.too_many
                raise _Refused
            name = name.lower()
            if name == b"expect" and value.lower() == b"100-continue":
                self.expect_100_continue = True
            headers.append((name, value))

        def on_headers_complete(self) -> None:
            self._head_open = False
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            self._framing -= len(body)
            super().on_body(body)

        def on_chunk_header(self) -> None:
            self._chunks += 1

        def _receiving_body(self) -> bool:
            return not self._head_open

        def on_message_complete(self) -> None:
            self._cancel_body_timer()
            super().on_message_complete()
            self._head_open = True  # what follows is a new head; its deadline starts at its first byte
            self._head_bytes = self._head_size = self._framing = self._chunks = 0


class _LimitedConnection(h11.Connection):
    """h11's connection that checks every request head it produces, pipelined ones included.

    h11 limits the head's size itself (``max_incomplete_event_size``, checked after the bytes were parsed), but
    uvicorn answers its error with a plain 400; here it becomes the 431 (or 414 if still in the request line).
    """

    def __init__(self, protocol: LimitedH11Protocol, limits: HttpLimits) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=limits.max_header_bytes)
        self._protocol = protocol
        self._limits = limits

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            if exc.error_status_hint != 431:
                raise
            in_request_line = b"\n" not in self.trailing_data[0]
            return self._refuse(self._limits.uri_too_long if in_request_line else self._limits.too_large)
        if isinstance(event, h11.Request):
            limits = self._limits
            if len(event.headers) > limits.max_headers:
                return self._refuse(limits.too_many)
            if len(event.target) > limits.max_url_bytes:
                return self._refuse(limits.uri_too_long)
            # h11 checks its buffer only while a head is incomplete: a whole oversize head in one read passes it.
            if (
                len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers.raw_items())
                > limits.max_header_bytes
            ):
                return self._refuse(limits.too_large)
            self._protocol._head_complete()
        elif isinstance(event, h11.EndOfMessage):
            self._protocol._next_head()
        return event

    def _refuse(self, refusal: Refusal) -> type[h11.NEED_DATA]:
        self._protocol._refuse(refusal)
        return h11.NEED_DATA  # ends uvicorn's event loop for this connection: nothing reaches the app


class LimitedH11Protocol(_HeadGuard, H11Protocol):
    """uvicorn's h11 protocol with head limits: h11 limits only the size (answered 400 by uvicorn)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._init_guard()
        self.conn = _LimitedConnection(self, self._limits)

    def data_received(self, data: bytes) -> None:
        if not self._head_open:
            super().data_received(data)  # a body: uvicorn's path, untouched
            return
        if self._pending is not None:  # refused, answered once the responses before it are out
            return
        self._head_bytes += len(data)
        super().data_received(data)
        # h11 checks the size; the count above is for the deadline only (a paused pipelined head + body is fine).
        if self._head_open and self._head_bytes and self._head_timer is None and not self.transport.is_closing():
            self._arm_head_timer()

    def _busy(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _head_complete(self) -> None:
        super()._head_complete()
        self._arm_body_timer()  # cancelled at the request's end (``_next_head``), at once for a request without body

    def _receiving_body(self) -> bool:
        # h11 parses a pipelined head only after the answer before it, so an error while busy is this request's
        # (its state is already ERROR by the time the refusal is made)
        return self.conn.their_state in (h11.SEND_BODY, h11.ERROR)

    def on_response_complete(self) -> None:
        # h11 hands over a pipelined head only after the answer before it, so nothing waits here in practice.
        super().on_response_complete()
        if self._pending is not None and not self._busy():
            refusal, self._pending = self._pending, None
            self._refuse(refusal)


def protocol_class(parser: str) -> type[asyncio.Protocol]:
    """The limited protocol for uvicorn's ``http=``: "auto" and "httptools" pick httptools (h11 without it)."""
    http_limits()  # a bad setting fails here, at start, not on the first connection
    if parser == "h11":
        return LimitedH11Protocol
    if parser not in ("auto", "httptools"):
        raise ConfigError(f"unknown HTTP parser {parser!r}: use auto, httptools or h11")
    if HAVE_HTTPTOOLS:
        return LimitedHttpToolsProtocol
    if parser == "httptools":
        raise ConfigError("the httptools parser is not installed: pip install httptools, or use h11")
    return LimitedH11Protocol
