"""Drive one HTTP endpoint with wrk and read its figures (requests/s, p50, p99, errors).

wrk, not a Python client: a Python generator on a 2-core machine would take the CPU the server needs and
measure itself. Every run is bounded (a few seconds, a few connections), uses one wrk thread (the Lua
scripts keep per-thread state: token pools) and targets 127.0.0.1 only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SCRIPTS = Path(__file__).parent / "wrk"
WRK_FIX = "wrk is missing: run 'sudo apt-get install -y wrk' (or 'make setup' as root), then 'make bench' again"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


class WrkMissing(Exception):
    """No wrk binary on PATH: the HTTP figures cannot be measured."""


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int

    @property
    def clean(self) -> bool:
        """No failed answer and no socket error: the figure measures the path, not its failures."""
        return self.non_2xx == 0 and self.socket_errors == 0

    def figures(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing(WRK_FIX)
    return found


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(text: str) -> Load:
    """Read wrk's ``--latency`` report; raises ValueError when it is not one."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    total = re.search(r"(\d+) requests in", text)
    if not (rps and p50 and p99 and total):
        raise ValueError(f"not a wrk --latency report: {text[-400:]!r}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return Load(
        rps=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def run_wrk(
    url: str,
    script: str,
    args: Iterable[str] = (),
    *,
    connections: int = 16,
    duration_s: float = 4.0,
    timeout_s: float = 5.0,
) -> Load:
    """One bounded wrk run against ``url`` (loopback only) with ``benchmarks/wrk/<script>``."""
    if urlsplit(url).hostname != "127.0.0.1":
        raise ValueError(f"the bench only loads 127.0.0.1, not {url}")
    argv = [wrk_binary(), "-t", "1", "-c", str(connections), "-d", f"{duration_s:g}s", "--timeout", f"{timeout_s:g}s"]
    argv += ["--latency", "-s", str(SCRIPTS / script), url, "--", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + timeout_s + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout[-400:]}")
    return parse_wrk(done.stdout)


def lines_file(lines: Iterable[str], name: str) -> Path:
    """Tokens (or a body) in a throwaway file for a wrk script to read."""
    path = Path(tempfile.mkdtemp(prefix="authchaos-bench-")) / name
    path.write_text("\n".join(lines) + "\n")
    return path
