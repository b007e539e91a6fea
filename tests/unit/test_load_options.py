"""`authchaos load` option parsing: fault and SLO specs, with errors that say how to write them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from authchaos.run.load_spec import LoadError, LoadOptions, parse_fault, parse_slo


def test_fault_specs() -> None:
    ev = parse_fault("blackhole@10+2")
    assert (ev.fault.kind, ev.at_s, ev.for_s) == ("blackhole", 10, 2)
    ev = parse_fault("latency:ms=200,jitter_ms=20@5.5+10")
    assert ev.fault.ms == 200 and ev.fault.jitter_ms == 20 and ev.at_s == 5.5  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("blackhole", "expected KIND[:attr=value,...]@START+DURATION"),
        ("lightning@1+1", "--fault 'lightning@1+1'"),
        ("latency@1+1", "ms: Field required"),
        ("latency:ms=fast@1+1", "ms: Input should be a valid integer"),
        ("blakhole@1+1", "--fault 'blakhole@1+1': no fault kind 'blakhole'; did you mean 'blackhole'? known:"),
        ("latency:msec=5@1+1", "--fault 'latency:msec=5@1+1': msec: unknown key 'msec': did you mean 'ms'?"),
    ],
)
def test_bad_fault_specs(spec: str, fragment: str) -> None:
    with pytest.raises(LoadError, match=re.escape(fragment)):
        parse_fault(spec)


def test_slo_specs() -> None:
    slo = parse_slo("refresh:p95=300,p99=800@during")
    assert (slo.op, slo.phase, slo.p95_ms, slo.p99_ms) == ("refresh", "during", 300, 800)
    assert parse_slo("me:max_error_ratio=0.01").max_error_ratio == 0.01
    with pytest.raises(LoadError, match="expected OP:p95=MS"):
        parse_slo("refresh<300")
    with pytest.raises(LoadError, match="p95_ms"):
        parse_slo("refresh:p95=-1")


def test_profile_durations_scale() -> None:
    assert LoadOptions(profile="smoke").seconds == 20
    assert LoadOptions(profile="ramp", scale=0.5).seconds == 30
    assert LoadOptions(profile=None, duration_s=7).seconds == 7


def test_a_load_seed_reaches_the_locustfile(tmp_path: Path) -> None:
    from authchaos.run.locust_process import locust_env

    assert locust_env(LoadOptions(seed=42), tmp_path, None)["AUTHCHAOS_LOAD_SEED"] == "42"
    assert "AUTHCHAOS_LOAD_SEED" not in locust_env(LoadOptions(), tmp_path, None)
