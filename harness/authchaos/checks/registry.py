"""The checker registry: a checker registers itself where it is written, and every list derives from here.

The scenario model's allowed ``checks``, the load driver's checks and the README's check
table all read ``CHECKERS``; adding a checker is one decorated function plus its test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from authchaos.checks.check_names import register_name

if TYPE_CHECKING:
    from authchaos.checks.context import CheckContext, CheckResult

CheckFn = Callable[["CheckContext"], "CheckResult"]


@dataclass(frozen=True)
class Checker:
    name: str
    fn: CheckFn
    load: bool  # also judges Locust load runs (their history has no steady-state probes or corpus)

    def __call__(self, ctx: CheckContext) -> CheckResult:
        return self.fn(ctx)

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip().splitlines()[0] if self.fn.__doc__ else ""


CHECKERS: dict[str, Checker] = {}


def checker(*, load: bool = True) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated function under its own name."""

    def register(fn: CheckFn) -> CheckFn:
        name = fn.__name__
        if name in CHECKERS and CHECKERS[name].fn is not fn:
            raise ValueError(f"two checkers named {name!r}")
        CHECKERS[name] = Checker(name, fn, load)
        register_name(name, fn.__module__, load)
        return fn

    return register
