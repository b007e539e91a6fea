"""``authchaos doctor``: what is installed, what ``auto`` will pick, and the fix for what is missing."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from authchaos.run.infrastructure import choose_backend
from authchaos.run.locust_process import LOCUST_FIX
from authchaos.servers.binaries import (
    REDIS_INSTALL,
    TOXIPROXY_INSTALL,
    BinaryMissing,
    find_redis_server,
    find_toxiproxy_server,
    version_of,
)
from authchaos.servers.toxiproxy_server import EXPECTED_VERSION

PACKAGES = (
    "fastapi",
    "uvicorn",
    "httpx",
    "redis",
    "hiredis",
    "pyjwt",
    "fakeredis",
    "lupa",
    "pydantic",
    "pydantic-settings",
    "prometheus-client",
    "toxiproxy-python",
    "rich",
    "click",
    "pyyaml",
)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    optional: bool = False  # needed by one command only (Locust: `authchaos load`); missing is not a failure


@dataclass
class Diagnosis:
    checks: list[Check] = field(default_factory=list)
    backend: str = ""
    backend_reason: str = ""

    @property
    def ok(self) -> bool:
        return all(c.ok or c.optional for c in self.checks)


def _binary(
    name: str, finder: Callable[[], Path], version_args: tuple[str, ...], expect: str | None, install: str
) -> Check:
    try:
        path: Path = finder()
    except BinaryMissing as exc:
        return Check(name, False, "not found", str(exc))
    version = version_of(path, *version_args)
    match = re.search(r"v=(\S+)", version)  # redis-server prints a long build line
    if match:
        version = f"redis-server {match.group(1)}"
    if expect and expect not in version:
        return Check(name, False, f"{version} at {path}", f"authchaos is tested with {name} {expect}: {install}")
    return Check(name, True, f"{version} at {path}")


# What each Redis topology needs from redis-server (besides toxiproxy-server): ACL peer users and
# ``sentinel auth-user`` arrived in 6.2, ``cluster-port`` and ``CLUSTER ADDSLOTSRANGE`` in 7.0.
TOPOLOGY_NEEDS = {"single": (0, 0), "sentinel": (6, 2), "cluster": (7, 0)}
TOPOLOGY_WHAT = {
    "single": "one redis-server behind one proxy",
    "sentinel": "3 redis-server + 3 'redis-server --sentinel' (quorum 2), 6 proxies",
    "cluster": "6 'redis-server --cluster-enabled' (3 primaries, 3 replicas), 12 proxies (data and bus)",
}


def _topologies(redis_version: str | None, toxiproxy_ok: bool) -> list[Check]:
    found = re.search(r"(\d+)\.(\d+)", redis_version or "")
    have = (int(found.group(1)), int(found.group(2))) if found else None
    out = []
    for kind, need in TOPOLOGY_NEEDS.items():
        redis_ok = have is not None and have >= need
        ok = redis_ok and toxiproxy_ok
        wanted = f"redis-server >= {need[0]}.{need[1]} and toxiproxy-server" if need > (0, 0) else "the binaries above"
        fixes = ([] if redis_ok else [REDIS_INSTALL]) + ([] if toxiproxy_ok else [TOXIPROXY_INSTALL])
        fix = None if ok else f"needs {wanted}: {'; '.join(fixes)}"
        out.append(Check(f"topology {kind}", ok, f"{TOPOLOGY_WHAT[kind]}; needs {wanted}", fix))
    return out


def _locust() -> Check:
    """Locust drives `authchaos load` as ``python -m locust`` of this interpreter: it must be importable here."""
    if importlib.util.find_spec("locust") is None:
        return Check("locust (authchaos load)", False, "not installed", LOCUST_FIX, optional=True)
    try:
        version = importlib.metadata.version("locust")
    except importlib.metadata.PackageNotFoundError:
        version = "importable, version unknown"
    return Check("locust (authchaos load)", True, version, optional=True)


def diagnose() -> Diagnosis:
    d = Diagnosis()
    d.checks.append(
        Check("python", sys.version_info >= (3, 11), sys.version.split()[0], "authchaos needs Python 3.11+")
    )
    for pkg in PACKAGES:
        try:
            d.checks.append(Check(pkg, True, importlib.metadata.version(pkg)))
        except importlib.metadata.PackageNotFoundError:
            fix = f"pip install {pkg} (or reinstall authchaos); in a checkout: make setup"
            d.checks.append(Check(pkg, False, "not installed", fix))
    d.checks.append(_locust())
    redis_check = _binary("redis-server", find_redis_server, ("--version",), None, REDIS_INSTALL)
    toxiproxy = _binary("toxiproxy-server", find_toxiproxy_server, ("-version",), EXPECTED_VERSION, TOXIPROXY_INSTALL)
    d.checks += [redis_check, toxiproxy]
    d.checks += _topologies(redis_check.detail if redis_check.ok else None, toxiproxy.ok)
    choice = choose_backend("auto")
    d.backend, d.backend_reason = choice.backend, choice.reason
    return d
