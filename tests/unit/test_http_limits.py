"""The AUTHCHAOS_HTTP_* settings' bounds and ``protocol_class`` (the refusals themselves: tests/integration)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from authchaos.cli import cli
from authchaos_reference import http_limits as hl
from authchaos_reference.config import ConfigError, load_settings

ENV = ("AUTHCHAOS_HTTP_MAX_HEADER_BYTES", "AUTHCHAOS_HTTP_MAX_HEADERS", "AUTHCHAOS_HTTP_MAX_URL_BYTES")


@pytest.fixture(autouse=True)
def fresh_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test reads the environment afresh; the process-wide cache is left empty for the next reader."""
    for name in (*ENV, "AUTHCHAOS_HTTP_HEADER_TIMEOUT_S", "AUTHCHAOS_HTTP_PARSER", "AUTHCHAOS_MAX_TOKEN_BYTES"):
        monkeypatch.delenv(name, raising=False)
    hl.http_limits.cache_clear()
    yield
    hl.http_limits.cache_clear()


def test_defaults() -> None:
    s = load_settings()
    assert (s.http_max_header_bytes, s.http_max_headers, s.http_max_url_bytes) == (16384, 100, 8192)
    assert (s.http_header_timeout_s, s.http_parser) == (10.0, "auto")
    assert s.http_max_header_bytes >= s.max_token_bytes + 1024, "an 8 KiB bearer token fits the default head"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"http_max_header_bytes": 512}, "AUTHCHAOS_HTTP_MAX_HEADER_BYTES"),
        ({"http_max_header_bytes": 9000}, "AUTHCHAOS_MAX_TOKEN_BYTES + 1024"),  # 8192 + 1024 > 9000
        ({"http_max_header_bytes": 20_000, "max_token_bytes": 20_000}, "AUTHCHAOS_MAX_TOKEN_BYTES + 1024"),
        ({"http_max_header_bytes": 4 * 1024 * 1024}, "AUTHCHAOS_HTTP_MAX_HEADER_BYTES"),
        ({"http_max_headers": 0}, "AUTHCHAOS_HTTP_MAX_HEADERS"),
        ({"http_max_url_bytes": 100}, "AUTHCHAOS_HTTP_MAX_URL_BYTES"),
        ({"http_max_url_bytes": 20_000}, "AUTHCHAOS_HTTP_MAX_URL_BYTES must not exceed"),
        ({"http_header_timeout_s": 0}, "AUTHCHAOS_HTTP_HEADER_TIMEOUT_S"),
        ({"http_header_timeout_s": 3600}, "AUTHCHAOS_HTTP_HEADER_TIMEOUT_S"),
        ({"http_parser": "zttp"}, "AUTHCHAOS_HTTP_PARSER"),
    ],
)
def test_out_of_bounds_values_are_config_errors_naming_the_setting(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("+", r"\+")):
        load_settings(**overrides)


def test_a_larger_token_limit_needs_a_larger_head() -> None:
    s = load_settings(max_token_bytes=20_000, http_max_header_bytes=21_024)
    assert s.http_max_header_bytes == 21_024


def test_limits_are_read_from_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHCHAOS_HTTP_MAX_HEADERS", "40")
    monkeypatch.setenv("AUTHCHAOS_HTTP_HEADER_TIMEOUT_S", "2.5")
    first = hl.http_limits()
    assert (first.max_headers, first.header_timeout_s, first.max_header_bytes) == (40, 2.5, 16384)
    monkeypatch.setenv("AUTHCHAOS_HTTP_MAX_HEADERS", "60")
    assert hl.http_limits() is first, "cached: a protocol is built per connection"


def test_a_bad_environment_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHCHAOS_HTTP_MAX_HEADER_BYTES", "lots")
    with pytest.raises(ConfigError, match="AUTHCHAOS_HTTP_MAX_HEADER_BYTES"):
        hl.http_limits()
    with pytest.raises(ConfigError, match="AUTHCHAOS_HTTP_MAX_HEADER_BYTES"):
        hl.protocol_class("auto")


def test_refusals_are_the_service_error_shape_with_a_correct_length() -> None:
    limits = hl.http_limits()
    for refusal, status, code in [
        (limits.too_large, 431, "header_too_large"),
        (limits.too_many, 431, "header_too_large"),
        (limits.uri_too_long, 414, "uri_too_long"),
        (limits.timeout, 408, "request_timeout"),
    ]:
        assert refusal.status_line.startswith(f"HTTP/1.1 {status} ".encode())
        head, _, body = refusal.tail.partition(b"\r\n\r\n")
        assert json.loads(body) == {"error": code, "message": refusal.message}
        assert f"content-length: {len(body)}".encode() in head
        assert b"content-type: application/json" in head and b"connection: close" in head


def test_protocol_class() -> None:
    assert hl.protocol_class("auto") is hl.LimitedHttpToolsProtocol
    assert hl.protocol_class("httptools") is hl.LimitedHttpToolsProtocol
    assert hl.protocol_class("h11") is hl.LimitedH11Protocol
    with pytest.raises(ConfigError, match="unknown HTTP parser"):
        hl.protocol_class("zttp")


def test_protocol_class_without_httptools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hl, "HAVE_HTTPTOOLS", False)
    assert hl.protocol_class("auto") is hl.LimitedH11Protocol
    with pytest.raises(ConfigError, match="httptools parser is not installed"):
        hl.protocol_class("httptools")


def test_serve_refuses_a_bad_limit_in_one_line_with_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHCHAOS_HTTP_MAX_HEADER_BYTES", "2048")
    out = CliRunner().invoke(cli, ["serve", "--port", "0"])
    assert out.exit_code == 2
    assert out.output.strip().count("\n") == 0 and "AUTHCHAOS_HTTP_MAX_HEADER_BYTES" in out.output


def test_serve_offers_the_parser_choice() -> None:
    out = CliRunner().invoke(cli, ["serve", "--help"])
    assert out.exit_code == 0 and "--http [auto|httptools|h11]" in out.output
    assert "Exit status:" in out.output and "Example: authchaos serve" in out.output
