"""What the run ran on, recorded in run.json so a result can be compared with the machine it came from."""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import platform

PACKAGES = ("authchaos", "redis", "fastapi", "pyjwt", "fakeredis")


def versions() -> dict[str, str]:
    """Python, platform and the packages that change behaviour; a package not installed is left out, not an error."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in PACKAGES:
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out
