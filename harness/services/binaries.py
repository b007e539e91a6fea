"""Finding the real binaries, with the exact fix when one is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO / ".tools" / "bin"


class BinaryMissing(Exception):
    """A required binary is not installed; the message says how to install it."""


def find_redis_server() -> Path:
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    raise BinaryMissing(
        "redis-server not found on PATH: run 'make setup' (installs it with apt-get), "
        "or 'apt-get install redis-server' / 'brew install redis'"
    )


def find_toxiproxy_server() -> Path:
    """TOXIPROXY_BIN, then PATH, then .tools/bin (where scripts/bootstrap installs it)."""
    env = os.environ.get("TOXIPROXY_BIN")
    if env:
        path = Path(env)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise BinaryMissing(
            f"TOXIPROXY_BIN={env} is not an executable file: unset it to use PATH or .tools/bin, "
            "or point it at toxiproxy-server (make setup installs one into .tools/bin)"
        )
    found = shutil.which("toxiproxy-server")
    if found:
        return Path(found)
    local = TOOLS_BIN / "toxiproxy-server"
    if local.is_file():
        return local
    raise BinaryMissing(
        "toxiproxy-server not found (TOXIPROXY_BIN, PATH, .tools/bin): run 'make setup', which runs "
        "'go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0' into .tools/bin"
    )


def version_of(binary: Path, *args: str) -> str:
    """First line of ``binary --version`` (or given args), for doctor and reports."""
    try:
        out = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "unknown"
