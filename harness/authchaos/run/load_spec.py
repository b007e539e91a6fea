"""What a load run is asked to do: options, the ``--fault`` and ``--slo`` mini-languages, its scenario."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from authchaos.checks import check_names
from authchaos.checks.expectations import Expectations, Slo
from authchaos.faults.fault_spec import FAULT_CLASSES, Fault, FaultEvent
from authchaos.record.protocol import LOAD_PROFILES, profile_seconds
from authchaos.record.strict_model import validation_message
from authchaos.run.infrastructure import Backend
from authchaos.scenario.schema import Scenario
from authchaos.workload.workload_spec import Workload

SHED_MIN_INFLIGHT = 16  # a load run may meet explicit shedding, but not with a handful of requests in flight
RECOVERY_MAX_S = 3.0  # after a fault, this long to recover before "healthy" SLOs apply again
_FAULT: TypeAdapter[Fault] = TypeAdapter(Fault)


class LoadError(Exception):
    """Bad load options; the message names the option and the fix."""


def _first_error(flag: str, spec: str, exc: ValidationError) -> LoadError:
    err = exc.errors()[0]
    return LoadError(f"{flag} {spec!r}: {'.'.join(map(str, err['loc']))}: {err['msg']}")


def _pairs(text: str) -> list[tuple[str, str]]:
    return [(k.strip(), v.strip()) for k, _, v in (p.partition("=") for p in text.split(",") if p)]


def parse_fault(spec: str) -> FaultEvent:
    """``KIND[:attr=value,...]@START+DURATION``, e.g. ``blackhole@10+2`` or ``latency:ms=200@5+10``."""
    m = re.fullmatch(r"([a-z_]+)(?::([^@]*))?@([\d.]+)\+([\d.]+)", spec.strip())
    if not m:
        raise LoadError(f"--fault {spec!r}: expected KIND[:attr=value,...]@START+DURATION, e.g. blackhole@10+2")
    kind, attrs, start, length = m.groups()
    classes = {cls.model_fields["kind"].default: cls for cls in FAULT_CLASSES}
    if kind not in classes:
        close = difflib.get_close_matches(kind, classes, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise LoadError(f"--fault {spec!r}: no fault kind {kind!r}; {hint}known: {', '.join(classes)}")
    try:
        fault = _FAULT.validate_python({"kind": kind, **dict(_pairs(attrs or ""))})
    except ValidationError as exc:
        raise LoadError(validation_message(exc, classes[kind], f"--fault {spec!r}", frozenset(classes))) from None
    return FaultEvent(at_s=float(start), for_s=float(length), fault=fault)


def parse_slo(spec: str) -> Slo:
    """``OP:p95=300[,p99=800,max_error_ratio=0.01][@before|during|after|healthy]``."""
    m = re.fullmatch(r"([a-z_]+):([^@]+)(?:@(before|during|after|healthy|any))?", spec.strip())
    if not m:
        raise LoadError(f"--slo {spec!r}: expected OP:p95=MS[,p99=MS,max_error_ratio=R][@PHASE], e.g. refresh:p95=300")
    op, limits, phase = m.groups()
    fields: dict[str, Any] = {"op": op, "phase": phase or "any"}
    for key, value in _pairs(limits):
        fields[f"{key}_ms" if key in ("p50", "p95", "p99") else key] = value
    try:
        return Slo.model_validate(fields)
    except ValidationError as exc:
        raise _first_error("--slo", spec, exc) from None


@dataclass
class LoadOptions:
    profile: str | None = "smoke"
    users: int = 10
    spawn_rate: float = 10.0
    duration_s: float | None = None
    faults: list[FaultEvent] = field(default_factory=list)
    workers: int = 0
    service_workers: int = 1
    target: str | None = None
    backend: Backend = "auto"
    slo: list[Slo] = field(default_factory=list)
    max_fail_ratio: float = 0.01
    scale: float = 1.0
    weights: str = "refresh=3,blacklist=1,api=6"
    batch_sizes: str = "1,100,1000,10000"
    locustfile: Path | None = None  # --locustfile; None: the shipped one (locust_process.LOCUSTFILE)
    contract: Path | None = None  # --contract; None: the reference service
    seed: int | None = None  # --seed: the locustfile's random choices (replays, batch sizes, ids) repeat

    def __post_init__(self) -> None:
        if self.profile == "capacity" and self.batch_sizes == LoadOptions.batch_sizes:
            # Interactive capacity: 10,000-token batches would measure the batch path, which make bench does.
            self.batch_sizes = "1,100"
        if self.profile is not None and self.profile not in LOAD_PROFILES:
            raise LoadError(f"--profile {self.profile!r}: choose one of {', '.join(LOAD_PROFILES)}")
        if self.target and self.faults:
            raise LoadError("--fault needs the harness's own Redis and Toxiproxy: drop --target, or drop --fault")
        if self.locustfile is not None:
            if not self.locustfile.is_file():
                raise LoadError(f"--locustfile {self.locustfile}: no such file; give the path of a locustfile (.py)")
            self.locustfile = self.locustfile.resolve()  # absolute: the same file whatever Locust's cwd

    @property
    def seconds(self) -> float:
        if self.duration_s is not None:
            return self.duration_s
        return profile_seconds(self.profile) * self.scale if self.profile else 30.0

    @property
    def name(self) -> str:
        return f"load-{self.profile or 'custom'}"


def default_slos(opts: LoadOptions) -> list[Slo]:
    """Outside fault windows requests must not fail; the user's own SLOs come on top. A capacity search
    pushes past capacity on purpose: its SLOs decide the knee (``capacity.py``), not the verdict."""
    if opts.profile == "capacity":
        return []
    healthy = [Slo(op=op, phase="healthy", max_error_ratio=opts.max_fail_ratio) for op in ("refresh", "me")]
    return healthy + opts.slo


def load_scenario(opts: LoadOptions) -> Scenario:
    """The load run as a scenario, so it is planned, judged and reported like one."""
    faults = ", ".join(ev.fault.describe() for ev in opts.faults)
    end = max((e.at_s + (e.for_s or 0) for e in opts.faults), default=0)
    return Scenario(
        name=opts.name,
        description=f"Locust {opts.profile or 'custom'} load" + (f" with {faults}" if faults else ""),
        workload=Workload(duration_s=max(opts.seconds, end)),
        faults=opts.faults,
        expect=Expectations(
            checks=list(check_names(load_only=True)),
            slo=default_slos(opts),
            recovery_max_s=RECOVERY_MAX_S,
            shed_min_inflight=SHED_MIN_INFLIGHT,
        ),
    )
