"""Request-head limits of `authchaos serve` over raw sockets, on both uvicorn parsers.

httptools (uvicorn's default) had no limit: a 1 MiB header and 3,000 headers reached the app, a 32 MiB header was
buffered whole, and a connection that sent half a head (or nothing) was never closed. Every test here talks to a
real `authchaos serve` process on 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from authchaos.sut.service_process import AuthServiceProcess

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
TIMEOUT_S = 1.0  # AUTHCHAOS_HTTP_HEADER_TIMEOUT_S of the service under test
KIB, MIB = 1024, 1024 * 1024
SECRET = "s3cr3t-header-value"  # sent in refused heads: must never reach the log


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict[str, str]:
        assert self.headers.get("content-type") == "application/json", self.headers
        body = json.loads(self.body)
        assert set(body) == {"error", "message"}, body
        return body  # type: ignore[no-any-return]


class Raw:
    """One client connection: bytes in, bytes out, every wait bounded."""

    def __init__(self, port: int, timeout_s: float = 5.0) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=timeout_s)
        self.timeout_s = timeout_s
        self.buf = b""

    def send(self, data: bytes) -> bool:
        """False when the server already closed (a refused client may still be sending)."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    def _recv(self, deadline: float) -> bytes:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            return self.sock.recv(64 * KIB)
        except ConnectionResetError:
            return b""

    def answer(self) -> Answer:
        deadline = time.monotonic() + self.timeout_s
        while b"\r\n\r\n" not in self.buf:
            chunk = self._recv(deadline)
            assert chunk, f"closed before an answer: {self.buf[:200]!r}"
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        if "content-length" not in headers:  # uvicorn's own h11 400: the body ends with the connection
            while chunk := self._recv(deadline):
                self.buf += chunk
        length = int(headers.get("content-length", len(self.buf)))
        while len(self.buf) < length:
            chunk = self._recv(deadline)
            assert chunk, "closed inside an answer's body"
            self.buf += chunk
        body, self.buf = self.buf[:length], self.buf[length:]
        return Answer(int(status_line.split()[1]), headers, body)

    def closed_within(self, seconds: float) -> bool:
        """True when the server closes (EOF or reset) within ``seconds`` without sending anything more."""
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                chunk = self._recv(deadline)
                if not chunk:
                    return True
                self.buf += chunk
                return False
        except TimeoutError:
            return False
        return False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module", params=["httptools", "h11"])
def service(request: pytest.FixtureRequest) -> Iterator[AuthServiceProcess]:
    env = {"AUTHCHAOS_HTTP_PARSER": request.param, "AUTHCHAOS_HTTP_HEADER_TIMEOUT_S": str(TIMEOUT_S)}
    with AuthServiceProcess("memory://", env=env) as svc:
        yield svc


@pytest.fixture
def raw(service: AuthServiceProcess) -> Iterator[Raw]:
    conn = Raw(service.port)
    yield conn
    conn.close()


def head(target: str = "/health", *headers: str, method: str = "GET") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {HOST}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def access_token(service: AuthServiceProcess) -> str:
    r = httpx.post(f"{service.url}/auth/login", json={"username": "alice", "password": "wonderland"}, timeout=10)
    return str(r.json()["access_token"])


def service_log(service: AuthServiceProcess) -> str:
    return (Path(service.log_dir) / "service.log").read_text(errors="replace")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_the_chosen_parser_serves(service: AuthServiceProcess, raw: Raw, request: pytest.FixtureRequest) -> None:
    """AUTHCHAOS_HTTP_PARSER reaches `serve`: h11 insists on a Host header, httptools does not."""
    raw.send(b"GET /health HTTP/1.1\r\n\r\n")
    expected = 400 if "h11" in request.node.callspec.id else 200
    assert raw.answer().status == expected


def test_a_1_mib_header_is_431_and_closed(service: AuthServiceProcess, raw: Raw) -> None:
    raw.send(head("/health", "X-Big: " + SECRET * (MIB // len(SECRET))))
    answer = raw.answer()
    assert answer.status == 431 and answer.headers["connection"] == "close"
    assert answer.error()["error"] == "header_too_large"
    assert raw.closed_within(2)
    log = service_log(service)
    assert "431 header_too_large" in log and SECRET not in log


def test_too_many_headers_within_the_size_limit_are_431(raw: Raw) -> None:
    many = [f"x{i}:1" for i in range(1200)]  # 8 KB: under the size limit, so only the count can refuse it
    raw.send(head("/health", *many))
    answer = raw.answer()
    assert answer.status == 431 and "header fields" in answer.error()["message"]
    assert raw.closed_within(2)


def test_3000_headers_in_full_are_431(service: AuthServiceProcess) -> None:
    conn = Raw(service.port)
    try:
        conn.send(head("/health", *(f"x{i}:1" for i in range(3000))))
        assert conn.answer().status == 431
    finally:
        conn.close()


def test_a_17_kib_head_is_431_but_a_15_kib_one_is_served(service: AuthServiceProcess, raw: Raw) -> None:
    token = access_token(service)
    pad = 15 * KIB - len(head("/auth/me", f"Authorization: Bearer {token}", "X-Pad: "))
    raw.send(head("/auth/me", f"Authorization: Bearer {token}", "X-Pad: " + "p" * pad))
    served = raw.answer()
    assert served.status == 200 and json.loads(served.body)["username"] == "alice"
    bogus = "a" * 8192  # the largest bearer the service reads (AUTHCHAOS_MAX_TOKEN_BYTES), in a 15 KiB head
    raw.send(head("/auth/me", f"Authorization: Bearer {bogus}", "X-Pad: " + "p" * (15 * KIB - 8300)))
    assert raw.answer().error()["error"] == "invalid_token"  # the service's own answer, same connection
    raw.send(head("/auth/me", f"Authorization: Bearer {token}", "X-Pad: " + "p" * (17 * KIB)))
    assert raw.answer().status == 431
    assert raw.closed_within(2)


@pytest.mark.parametrize(("size", "status"), [(60 * KIB, 400), (80 * KIB, 413)])
def test_a_small_head_and_a_large_body_in_one_send_reach_the_service(raw: Raw, size: int, status: int) -> None:
    body = json.dumps({"username": "u" * size, "password": "x"}).encode()
    request = head("/auth/login", "Content-Type: application/json", f"Content-Length: {len(body)}", method="POST")
    assert len(request) < 2 * KIB
    raw.send(request + body)
    answer = raw.answer()
    assert answer.status == status, answer.body[:200]
    assert answer.error()["error"] in ("bad_request", "payload_too_large")


@pytest.mark.parametrize("size", [10 * KIB, 14 * KIB])
def test_a_long_url_is_414(raw: Raw, size: int) -> None:
    raw.send(head("/health?q=" + "u" * size))
    answer = raw.answer()
    assert answer.status == 414 and answer.error()["error"] == "uri_too_long"
    assert raw.closed_within(2)


def test_half_a_head_then_silence_is_408_within_the_timeout(raw: Raw) -> None:
    start = time.monotonic()
    raw.send(f"GET /health HTTP/1.1\r\nHost: {HOST}\r\nX-Secret: {SECRET}\r\n".encode())
    answer = raw.answer()
    elapsed = time.monotonic() - start
    assert answer.status == 408 and answer.error()["error"] == "request_timeout"
    assert 0.7 * TIMEOUT_S <= elapsed <= TIMEOUT_S + 3, elapsed
    assert raw.closed_within(2)


def test_a_connection_that_sends_nothing_is_closed_within_the_timeout(raw: Raw) -> None:
    start = time.monotonic()
    assert raw.closed_within(TIMEOUT_S + 3), "still open"
    assert raw.buf == b"", "nothing was asked: nothing is answered"
    assert time.monotonic() - start >= 0.7 * TIMEOUT_S


def test_a_head_trickled_in_slowly_is_408_even_though_bytes_keep_coming(raw: Raw) -> None:
    start = time.monotonic()
    raw.send(b"GET /health HTTP/1.1\r\n")
    for _ in range(int(TIMEOUT_S * 10) + 30):  # one byte a tenth of a second: the deadline is for the whole head
        answered, _, _ = select.select([raw.sock], [], [], 0.1)
        if answered or time.monotonic() - start > TIMEOUT_S + 2 or not raw.send(b"X"):
            break
    assert raw.answer().status == 408
    assert time.monotonic() - start <= TIMEOUT_S + 3


def test_keep_alive_then_half_a_head_is_408(raw: Raw) -> None:
    raw.send(head("/health"))
    assert raw.answer().status == 200
    time.sleep(0.6 * TIMEOUT_S)  # idle between requests: uvicorn's keep-alive timeout governs this, not ours
    start = time.monotonic()
    raw.send(f"GET /health HTTP/1.1\r\nHost: {HOST}\r\n".encode())
    answer = raw.answer()
    elapsed = time.monotonic() - start
    assert answer.status == 408
    assert 0.7 * TIMEOUT_S <= elapsed <= TIMEOUT_S + 3, f"the deadline starts at the new head's first byte: {elapsed}"
    assert raw.closed_within(2)


def test_a_pipelined_oversize_head_is_answered_after_the_request_before_it(raw: Raw) -> None:
    raw.send(head("/health") + head("/health", *(f"x{i}:1" for i in range(300))))
    assert raw.answer().status == 200
    assert raw.answer().status == 431
    assert raw.closed_within(2)


def stream_until_closed(raw: Raw) -> int:
    """Send up to 32 MiB in 64 KiB chunks (at most 20 s) until the server closes; the bytes it took."""
    chunk, sent, start = b"a" * (64 * KIB), 0, time.monotonic()
    while sent < 32 * MIB and time.monotonic() - start < 20:  # at most 512 chunks, at most 20 s
        try:
            raw.sock.sendall(chunk)
        except TimeoutError:
            pytest.fail(f"the server stopped reading after {sent} bytes but kept the connection open")
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(chunk)
    return sent


def test_a_32_mib_header_stream_is_cut_off_early_without_buffering(service: AuthServiceProcess, raw: Raw) -> None:
    assert service.process is not None and service.process.pid is not None
    pid = service.process.pid
    before = rss_kib(pid)
    raw.send(head("/health").removesuffix(b"\r\n") + b"X-Big: ")
    sent = stream_until_closed(raw)
    assert sent < 16 * MIB, f"{sent} bytes accepted: the connection should be gone long before 32 MiB"
    time.sleep(0.2)
    grown = rss_kib(pid) - before
    assert grown < 8 * 1024, f"service RSS grew by {grown} KiB"
    assert httpx.get(f"{service.url}/health", timeout=5).status_code == 200


def test_an_endless_chunked_trailer_is_cut_off_and_a_trailer_never_becomes_a_header(
    service: AuthServiceProcess, raw: Raw
) -> None:
    """After the head, what is not body (chunk framing, trailers) is bounded too; trailers are dropped."""
    assert service.process is not None and service.process.pid is not None
    before = rss_kib(service.process.pid)
    raw.send(head("/auth/login", "Content-Type: application/json", "Transfer-Encoding: chunked", method="POST"))
    raw.send(b"2\r\n{}\r\n0\r\nX-Trailer: ")
    sent = stream_until_closed(raw)
    assert sent < 16 * MIB, f"{sent} trailer bytes accepted: the connection should be gone long before 32 MiB"
    time.sleep(0.2)
    assert rss_kib(service.process.pid) - before < 8 * 1024
    # A complete trailer is not a header: a chunked login with a trailer answers like one without.
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as sock:
        body = b'{"username": "alice", "password": "wonderland"}'
        sock.sendall(
            head("/auth/login", "Content-Type: application/json", "Transfer-Encoding: chunked", method="POST")
            + f"{len(body):x}\r\n".encode()
            + body
            + b"\r\n0\r\nAuthorization: Bearer x.y.z\r\n\r\n"
        )
        got = sock.recv(65536)
    assert got.startswith(b"HTTP/1.1 200"), got[:200]


@pytest.fixture(scope="module")
def slow_body_service() -> Iterator[AuthServiceProcess]:
    env = {"AUTHCHAOS_HTTP_BODY_TIMEOUT_S": "1", "AUTHCHAOS_MAX_INFLIGHT": "4"}
    with AuthServiceProcess("memory://", env=env) as svc:
        yield svc


def test_bodies_that_never_come_do_not_hold_the_service(slow_body_service: AuthServiceProcess) -> None:
    """More requests than admission slots, each with a head and no body: they end at the body deadline (408)
    and a real client is then served, not refused as overloaded."""
    socks = []
    try:
        for _ in range(6):  # more than AUTHCHAOS_MAX_INFLIGHT
            sock = socket.create_connection(("127.0.0.1", slow_body_service.port), timeout=5)
            sock.sendall(head("/auth/login", "Content-Type: application/json", "Content-Length: 100", method="POST"))
            socks.append(sock)
        time.sleep(1.5)  # past the body deadline
        statuses = sorted(int(s.recv(4096).split(b" ", 2)[1]) for s in socks)
        assert statuses == [408] * 4 + [503] * 2, statuses  # the slots' holders time out; the rest were shed at once
        r = httpx.post(
            f"{slow_body_service.url}/auth/login", json={"username": "alice", "password": "wonderland"}, timeout=5
        )
        assert r.status_code == 200, r.text
    finally:
        for s in socks:
            s.close()
