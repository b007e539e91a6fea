"""The command line: clear one-line errors, never a traceback."""

from __future__ import annotations

from tests.support import authchaos


def test_bad_flag_is_a_usage_error() -> None:
    out = authchaos("serve", "--port", "not-a-port")
    assert out.returncode == 2 and "Invalid value for '--port'" in out.stderr and "Traceback" not in out.stderr


def test_doctor_names_the_fix_for_a_bad_toxiproxy_bin() -> None:
    out = authchaos("doctor", env={"TOXIPROXY_BIN": "/nonexistent/toxiproxy"})
    assert out.returncode == 1
    text = " ".join(out.stdout.split())
    assert "TOXIPROXY_BIN=/nonexistent/toxiproxy is not an executable file" in text
    assert "backend 'auto' picks: embedded" in text


def test_cleanup_against_an_unreachable_redis_is_one_line() -> None:
    out = authchaos(
        "cleanup",
        "--redis-url",
        "redis://127.0.0.1:1/0",
        env={"AUTHCHAOS_REDIS_CONNECT_TIMEOUT_S": "0.5", "AUTHCHAOS_REDIS_RETRIES": "0"},
    )
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0 and "cannot reach Redis at redis://127.0.0.1:1/0" in out.stderr


def test_cleanup_on_memory_reports_json() -> None:
    out = authchaos("cleanup", "--redis-url", "memory://", "--dry-run")
    assert out.returncode == 0 and '"complete": true' in out.stdout
