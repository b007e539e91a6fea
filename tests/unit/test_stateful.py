"""The token-lifecycle state machine (tests/stateful.py) on fakeredis, in-process."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from authchaos_reference.app import create_app
from authchaos_reference.config import load_settings
from tests.stateful import Accounts, make_machine

_names = itertools.count()
ACCOUNTS = Accounts(Path(tempfile.mkdtemp(prefix="authchaos-stateful-")) / "users.json")
ACCOUNTS.write()
# Sessions end 6 s after login whatever their rotations: long enough for a run of steps, short enough to be met.
SETTINGS = load_settings(
    redis_url="memory://stateful", probe_interval_s=0.05, session_max_s=6, users=ACCOUNTS.path, users_reload_s=0.05
)


def _client() -> tuple[Any, Any]:
    app = create_app(SETTINGS.model_copy(update={"redis_url": f"memory://stateful-{next(_names)}"}))
    client = TestClient(app, raise_server_exceptions=False)
    client.__enter__()
    return client, lambda: client.__exit__(None, None, None)


TokenLifecycle = make_machine(_client, SETTINGS, ACCOUNTS)
TokenLifecycle.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestTokenLifecycleOnFakeredis = TokenLifecycle.TestCase
