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


def test_a_gate_never_falls_back_to_emulated_faults() -> None:
    """Without redis-server on PATH, `gate` (backend auto) exits 2 in one line naming what is missing and the
    explicit way out; so does `run` in CI. A gate that went green on fakeredis would test nothing real."""
    bare = {"PATH": "/nonexistent", "TOXIPROXY_BIN": ""}
    gate = authchaos("gate", env=bare)
    assert gate.returncode == 2 and gate.stderr.count("\n") == 1, gate.stderr
    assert gate.stderr.startswith("authchaos: error: gate needs the real redis-server and toxiproxy-server")
    assert "redis-server not found on PATH" in gate.stderr and "--backend embedded" in gate.stderr
    ci_run = authchaos("run", "gate-baseline", env={**bare, "CI": "true"})
    assert ci_run.returncode == 2 and "run in CI (CI is set) needs the real redis-server" in ci_run.stderr
