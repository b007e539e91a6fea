"""The command line: clear one-line errors, never a traceback."""

from __future__ import annotations

from pathlib import Path

from tests.support import REPO, authchaos


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
    assert out.returncode == 2  # the harness could not do its job: 2, like every command
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


def test_validate_names_each_file_and_exits_2_on_a_bad_one(tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("name: typo\nworkloda: {clients: 2}\n")
    node = REPO / "examples" / "node-service"
    good = authchaos(
        "validate", "scenarios/gate/baseline.yaml", str(node / "contract.yaml"), str(node / "mutants.yaml")
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "scenario gate-baseline" in good.stdout and "contract node-service" in good.stdout
    assert "mutant catalogue (" in good.stdout and "3 of 3 files valid" in good.stdout
    bad = authchaos("validate", "scenarios/gate/baseline.yaml", str(typo))
    assert bad.returncode == 2 and "1 of 2 files valid" in bad.stdout
    assert f"invalid  {typo}: workloda: unknown key 'workloda': did you mean 'workload'?" in bad.stdout


def test_verbosity_is_accepted_after_the_subcommand() -> None:
    out = authchaos("validate", "scenarios/gate/baseline.yaml", "-vv")
    assert out.returncode == 0, out.stderr


def test_a_bad_file_in_a_scenarios_folder_is_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\nworkloda: {clients: 2}\n")
    (tmp_path / "mine.yaml").write_text("name: mine\nworkload: {clients: 1, duration_s: 1, mix: {me: 1}}\n")
    out = authchaos("list", "--scenarios-dir", str(tmp_path))
    assert out.returncode == 0 and "mine" in out.stdout and "gate-baseline" in out.stdout
    assert f"authchaos: warning: skipped {tmp_path / 'broken.yaml'}: workloda: unknown key" in out.stderr
    missing = authchaos("run", "broken", "--scenarios-dir", str(tmp_path))
    assert missing.returncode == 2 and "1 file(s) could not be read, first:" in missing.stderr


def test_serve_with_a_wrong_redis_scheme_is_a_usage_error_not_an_internal_one() -> None:
    out = authchaos("serve", "--redis-url", "http://127.0.0.1:1", "--port", "0")
    assert out.returncode == 2 and out.stderr.startswith("authchaos: error: unsupported AUTHCHAOS_REDIS_URL scheme")
    assert "internal error" not in out.stderr and out.stderr.count("\n") == 1


def test_every_command_says_its_exit_codes_and_gives_an_example() -> None:
    import click

    from authchaos.cli import cli

    def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
        out = []
        for name, cmd in group.commands.items():
            out += commands(cmd, f"{prefix}{name} ") if isinstance(cmd, click.Group) else [(prefix + name, cmd)]
        return out

    found = commands(cli)
    assert len(found) >= 15
    for name, cmd in found:
        assert "Exit status:" in (cmd.help or "") and "Example: authchaos " in (cmd.help or ""), name


def test_every_command_that_runs_a_workload_takes_a_seed() -> None:
    for command in ("run", "gate", "prove", "load", "repro", "replay"):
        assert "--seed INTEGER" in authchaos(command, "--help").stdout, command


def test_a_scenario_whose_witness_the_service_cannot_be_given_is_left_out_by_name() -> None:
    """gate-durability-unmet needs replicas:N durability; the node contract passes no such setting, so the
    scenario would run without it and judge the wrong thing: it is not run, and running nothing is an error."""
    out = authchaos("run", "gate-durability-unmet", "--service", "node")
    said = " ".join((out.stdout + out.stderr).split())
    assert out.returncode == 2 and "Traceback" not in said
    assert "not applicable gate-durability-unmet" in said and "AUTHCHAOS_REVOCATION_DURABILITY" in said


def test_a_proof_flag_without_its_proof_is_refused_not_ignored() -> None:
    """--exhaustive and --witness-only change one proof each; given to the other, they would silently do nothing."""
    for argv, flag in (
        (("gate", "--exhaustive"), "--exhaustive is for the proof: add --prove"),
        (("prove", "--mutants", "--exhaustive"), "--exhaustive is for the switch proof"),
        (("prove", "--switches", "--witness-only"), "--witness-only is for the mutant proof"),
    ):
        out = authchaos(*argv)
        assert out.returncode == 2 and flag in out.stderr and out.stderr.strip().count("\n") == 0, out.stderr
