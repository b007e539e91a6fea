"""Account checkers: removals, disabling and demotions apply; passwords cannot be guessed past the login throttle,
and its window ends when it says."""

from __future__ import annotations

from authchaos.checks.context import CheckContext, CheckResult
from authchaos.checks.registry import checker
from authchaos.record.history import Op

THROTTLED = 429
REFUSED = (401, 403)
# The window began between the first failure's send and answer. A guess sent this early before its end may find it
# ended (a peek late on a loaded machine, a process just restarted): it is judged by its answer, not the model.
WINDOW_EARLY_NS = 1_000_000_000
WINDOW_LATE_NS = 100_000_000  # this long after the first failure's answer + the window, it has surely ended


def _window(first: Op | None, op: Op, window_ns: int) -> str:
    """Where ``op`` falls in the window opened by ``first``: none open, surely inside, maybe ended, surely over."""
    if first is None:
        return "none"
    if op.start_ns > first.end_ns + window_ns + WINDOW_LATE_NS:
        return "over"
    if op.start_ns >= first.start_ns + window_ns - WINDOW_EARLY_NS:
        return "maybe"
    return "inside"


def _judge_account(guesses: list[Op], budget: int, window_ns: int) -> tuple[list[tuple[Op, str]], bool]:
    """One account's guesses in order, against a fixed window from its first failure: (violations, whether the
    budget was ever spent). Judging stops at a guess with no answer (or a 5xx) before the budget is spent (it may
    or may not have counted); one sent while the window may or may not have ended is taken at its answer."""
    bad: list[tuple[Op, str]] = []
    spent = False
    first: Op | None = None
    failures = 0
    for op in guesses:
        unknown = op.status is None or op.status >= 500
        where = _window(first, op, window_ns)
        if unknown and (failures < budget or where == "over"):
            break  # it may have counted (as a failure, or the first of a new window)
        if unknown or (where == "maybe" and op.status == THROTTLED):
            continue  # a refused guess counts for nothing; a 429 near the end: the old window, still on
        if where == "over" and op.status == THROTTLED:
            bad.append((op, "a guess refused after the throttle's window had ended"))
            break
        if where in ("over", "maybe"):  # ended (surely, or by its 401): a new window from here
            first, failures = None, 0
        if failures >= budget:
            spent = True
            if op.status != THROTTLED:
                bad.append((op, f"a password checked after {budget} failures inside the window"))
        elif op.status != THROTTLED:  # a 429 before the budget is another limit's (the address's, say)
            first = first or op
            failures += 1
    return bad, spent


@checker()
def logins_throttled(ctx: CheckContext) -> CheckResult:
    """After ``AUTHCHAOS_LOGIN_MAX_FAILURES_PER_CLIENT`` failed logins of one account from one address inside
    ``AUTHCHAOS_LOGIN_CLIENT_WINDOW_S``, every further attempt in the window is refused (429 login_throttled)
    without checking the password, for accounts that do not exist too; once the window has ended, guesses are
    answered again. Judged on ``guess_password``'s accounts, each guessed by one client only."""
    if ctx.login_budget <= 0:
        return CheckResult("logins_throttled", True, "not applicable: the login throttle is off", applicable=False)
    by_account: dict[str, list[Op]] = {}
    for op in sorted(ctx.ops, key=lambda o: o.start_ns):
        if op.probe == "guess" and op.user:
            by_account.setdefault(op.user, []).append(op)
    window_ns = int(ctx.login_window_s * 1e9)
    found: list[tuple[Op, str]] = []
    spent = 0
    for guesses in by_account.values():
        bad, was_spent = _judge_account(guesses, ctx.login_budget, window_ns)
        found += bad
        spent += was_spent
    if not spent and not found:
        why = "no account's budget was spent" if by_account else "no password was guessed (guess_password)"
        return CheckResult("logins_throttled", True, f"not applicable: {why}", applicable=False)
    reasons = sorted({why for _, why in found})
    return CheckResult.from_violations(
        "logins_throttled",
        [op for op, _ in found],
        f"{spent} accounts guessed past their budget of {ctx.login_budget}: every further guess in the window "
        "was refused (429), and answered again after it",
        "{n} guesses broke the login throttle (" + "; ".join(reasons) + ")",
        accounts=len(by_account),
    )


ACCOUNT_PROBES = ("account_gone", "demoted")


@checker()
def accounts_follow_directory(ctx: CheckContext) -> CheckResult:
    """Once every process has re-read the users file (two ``AUTHCHAOS_USERS_RELOAD_S`` and half a second after
    the change), an account removed or disabled is refused everything (its access and refresh tokens, its
    password) and a demoted admin's batch blacklist is refused, with a token from before the demotion too.
    Judged on ``retire_account``'s probes, each sent only after the wait."""
    # no answer or a 5xx (the service could not tell, in an outage): unknown, neither a refusal nor an accept
    probes = [op for op in ctx.ops if op.probe in ACCOUNT_PROBES and op.status is not None and op.status < 500]
    if not probes:
        why = "no account was removed, disabled or demoted (retire_account, service.accounts)"
        return CheckResult("accounts_follow_directory", True, f"not applicable: {why}", applicable=False)
    wrong = [op for op in probes if op.status not in REFUSED]  # accepted, or a 4xx that is no refusal (404, 400)
    what = sorted({f"{op.op} {op.status}" for op in wrong})
    gone = sum(op.probe == "account_gone" for op in probes)
    return CheckResult.from_violations(
        "accounts_follow_directory",
        wrong,
        f"{gone} presentations of removed or disabled accounts and {len(probes) - gone} blacklists by demoted "
        "admins, all refused (401/403)",
        "{n} not refused after the directory took the account or its role away (" + ", ".join(what) + ")",
        refused=len(probes) - len(wrong),
    )
