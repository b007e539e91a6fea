"""Fixtures shared by every test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support import Running, running_service


@pytest.fixture
async def svc() -> AsyncIterator[Running]:
    """The reference service in-process on a fresh fakeredis server."""
    async with running_service() as running:
        yield running
