"""Finding the real binaries, with the exact fix when one is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[3]  # harness/authchaos/servers/binaries.py in a checkout


def tools_bins() -> list[Path]:
    """Where ``make setup`` puts toxiproxy-server: ``.tools/bin`` here, and in this checkout when run from one."""
    dirs = [Path.cwd() / ".tools" / "bin"]
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "harness").is_dir():
        dirs.append(CHECKOUT / ".tools" / "bin")
    return dirs


# How to install each binary, for both kinds of user: a pip install (no Makefile) and a checkout (make setup).
# `go install` names the binary `server` and leaves its version "git" unless told (doctor checks it).
REDIS_INSTALL = "install redis-server (apt-get install redis-server, or brew install redis); in a checkout: make setup"
TOXIPROXY_INSTALL = (
    "go install -ldflags=-X=github.com/Shopify/toxiproxy/v2.Version=2.12.0 "
    "github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0, then set TOXIPROXY_BIN=$(go env GOPATH)/bin/server "
    "or put it on PATH as toxiproxy-server; in a checkout: make setup"
)


class BinaryMissing(Exception):
    """A required binary is not installed; the message says how to install it."""


def find_redis_server() -> Path:
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    raise BinaryMissing(f"redis-server not found on PATH: {REDIS_INSTALL}")


def find_toxiproxy_server() -> Path:
    """TOXIPROXY_BIN, then PATH, then .tools/bin (where ``make setup`` installs it in a checkout)."""
    env = os.environ.get("TOXIPROXY_BIN")
    if env:
        path = Path(env)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise BinaryMissing(
            f"TOXIPROXY_BIN={env} is not an executable file: unset it to use PATH or .tools/bin, or point it at "
            f"a toxiproxy-server v2.12.0 ({TOXIPROXY_INSTALL})"
        )
    found = shutil.which("toxiproxy-server")
    if found:
        return Path(found)
    for tools in tools_bins():
        local = tools / "toxiproxy-server"
        if local.is_file():
            return local
    raise BinaryMissing(f"toxiproxy-server not found (TOXIPROXY_BIN, PATH, .tools/bin): {TOXIPROXY_INSTALL}")


def version_of(binary: Path, *args: str) -> str:
    """First line of ``binary --version`` (or given args), for doctor and reports."""
    try:
        out = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "unknown"
