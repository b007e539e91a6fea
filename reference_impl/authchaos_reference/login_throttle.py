"""Brute-force limits on password logins (ASVS 5.0 6.3.1; 4.0 2.2.1: at most 100 failures per hour per account).

Without them an attacker may guess one account's password as fast as the hashing threads allow.

Policy (defaults; a limit of 0 turns that counter off):
  client   one account from one client address: 5 failures / 900 s. A right password clears it.
  account  one account from every address: 100 failures / 3600 s, except from an address that logged in
           to this account before (the account's "known addresses": its 20 most recent, for 30 days).
           An attacker can lock strangers out of an account, never its user out of the addresses the user
           really uses (OWASP's device cookies, with addresses).
  address  one address across every account (password spraying): 100 failures / 900 s; an address known
           to the account is exempt here too, so a NAT shared with an attacker does not lock its users out.
A refusal is 429 ``login_throttled`` with Retry-After (the longest remaining window of the limits it hit,
whole seconds, at least 1), identical for unknown usernames: every username has counters, real or not.

How one login goes (each step one round trip; on a cluster, one script per slot, in one pipeline):
  1. before the password hash: read the counters; a throttled attempt costs no PBKDF2.
  2. a wrong password: count it (INCR; the window's TTL is set on the first increment). A failure past the
     client budget is not counted for the account, so one address adds at most 5 per 15 min to it.
  3. a right password: clear the client counter and remember the address.
Steps 2 and 3 also re-check, atomically with the count: guesses sent concurrently all pass step 1, so
a guess that finishes past a budget is answered 429 whatever its outcome (a success too). The client
and account limits are thus exact, the spraying limit exact for failures; a right guess of a spray
racing past the address budget is the one answer let through (bounded by the requests in flight).

Keys (under ``ac:``, every one with a TTL; ``H`` = sha256(username), 32 hex digits, so no raw username
is a key name and a key's size is bounded; ``A`` = the client address, an IPv6 one as its /64):
  lfc:H:A   client counter      lfu:H   account counter      lka:H   known addresses (zset, ms)
  lfa:A     address counter
On a cluster the account's keys share the hash tag of ``H``; the address counter has its own.

Client address: the socket's peer (IPv4-mapped IPv6 normalized to IPv4). Behind a reverse proxy every
client has the proxy's address: set ``AUTHCHAOS_LOGIN_CLIENT_HEADER`` (e.g. ``x-forwarded-for``) and the
header's *last* entry is used, the one your proxy appended. Only for a proxy you control, which must set
or append that header on every request: a client reaching the service directly could otherwise pick its
address, and so another user's known address. A missing or malformed value falls back to the socket.

When Redis cannot answer (outage, refused command, overload) the same counters run in this process
(bounded, least recently used dropped first): logins stay available, and brute force stays bounded per
process, so N processes allow N times each budget during an outage. A Redis fault never makes a login
a 503 or a 500 here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from redis.asyncio import Redis

from authchaos_reference.config import Settings
from authchaos_reference.errors import LoginThrottled
from authchaos_reference.metrics import Metrics
from authchaos_reference.overload import Overloaded
from authchaos_reference.redis_ops import RedisOperations, StoreError, StoreUnavailable
from authchaos_reference.token_store import KeyLayout, P

KNOWN_TTL_S = 30 * 24 * 3600  # an address is known to an account for 30 days after its last success there
KNOWN_KEEP = 20  # the most recent addresses kept per account
LOCAL_MAX_COUNTERS = 100_000
LOCAL_MAX_ACCOUNTS = 10_000  # accounts with known addresses remembered in-process (at most KNOWN_KEEP each)
HASH_CHARS = 32
UNKNOWN_ADDRESS = "unknown"  # no usable peer address (a unix socket, a test client): all such share one

CLIENT, ACCOUNT, ADDRESS = "client", "account", "address"
KINDS = {"lfc": CLIENT, "lfu": ACCOUNT, "lfa": ADDRESS, "lka": "known"}

# KEYS: client, account, known ; ARGV: address, known_since_ms, client_max, client_window_ms, account_max,
# account_window_ms. Count one failure. Returns {verdict, wait_ms, known}: verdict 1 (2) when it was past the
# client (account) budget, else 0. Past the client budget the account is not counted: one address cannot lock it.
FAIL = """
local function count(key, window)
  local n = redis.call('INCR', key)
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, window) end
  return n
end
local seen = redis.call('ZSCORE', KEYS[3], ARGV[1])
local known = (seen and tonumber(seen) >= tonumber(ARGV[2])) and 1 or 0
local client_max, account_max = tonumber(ARGV[3]), tonumber(ARGV[5])
if client_max > 0 and count(KEYS[1], ARGV[4]) > client_max then return {1, redis.call('PTTL', KEYS[1]), known} end
if account_max > 0 and count(KEYS[2], ARGV[6]) > account_max and known == 0 then
  return {2, redis.call('PTTL', KEYS[2]), known}
end
return {0, 0, known}
"""

# KEYS: address ; ARGV: window_ms. Count one failure from an address; returns {count, ttl_ms}.
COUNT = """
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
"""

# KEYS: client, account, known ; ARGV: address, known_since_ms, client_max, account_max, now_ms, known_ttl_ms,
# keep. A right password within budget clears the client counter and remembers the address: {0, 0}. Past a
# budget (failures that finished first): {1|2, wait_ms}, and nothing changes.
SUCCEED = """
local seen = redis.call('ZSCORE', KEYS[3], ARGV[1])
local known = seen and tonumber(seen) >= tonumber(ARGV[2])
local client_max, account_max = tonumber(ARGV[3]), tonumber(ARGV[4])
if client_max > 0 and tonumber(redis.call('GET', KEYS[1]) or '0') >= client_max then
  return {1, redis.call('PTTL', KEYS[1])}
end
if account_max > 0 and not known and tonumber(redis.call('GET', KEYS[2]) or '0') >= account_max then
  return {2, redis.call('PTTL', KEYS[2])}
end
redis.call('DEL', KEYS[1])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -1 - tonumber(ARGV[7]))
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return {0, 0}
"""
VERDICTS = {1: CLIENT, 2: ACCOUNT}


def key_lifetimes(settings: Settings) -> dict[str, int]:
    """Each key kind's TTL in seconds: what cleanup gives one found without (never the refresh lifetime)."""
    windows = {
        CLIENT: settings.login_client_window_s,
        ACCOUNT: settings.login_account_window_s,
        ADDRESS: settings.login_address_window_s,
        "known": KNOWN_TTL_S,
    }
    return {kind: windows[name] for kind, name in KINDS.items()}


def normalized_address(value: str) -> str | None:
    """An IP address as the throttle keys it (IPv4-mapped IPv6 as IPv4, IPv6 as its /64: one host's share),
    or None when ``value`` is not an address. A port (``1.2.3.4:5678``, ``[2001:db8::1]:443``), as some
    proxies write, is dropped: a client must not get a fresh counter per source port."""
    text = value.strip()
    if text.startswith("["):  # "[v6]" or "[v6]:port" (RFC 7239 style)
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # "v4:port"
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip), 64), strict=False))
    return str(ip)


FORWARDING_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")


def forwarded_without_header(scope: Mapping[str, Any], header: str) -> bool:
    """Does this request come through a proxy the throttle is not told about? Then every client shares the
    proxy's address: one attacker's failures lock everyone out of an account from that address."""
    return not header and any(key in FORWARDING_HEADERS for key, _ in scope.get("headers", ()))


def client_address(scope: Mapping[str, Any], header: str = "") -> str:
    """The address to throttle: the last entry of ``header`` when set (your proxy appends it), else the peer."""
    if header:
        name = header.lower().encode("latin-1")
        lines = [value for key, value in scope.get("headers", ()) if key == name]
        found = normalized_address(lines[-1].decode("latin-1").rsplit(",", 1)[-1]) if lines else None
        if found is not None:
            return found
    peer = scope.get("client")
    return (normalized_address(str(peer[0])) if peer else None) or UNKNOWN_ADDRESS


@dataclass(frozen=True)
class Limit:
    name: str
    max_failures: int  # 0: off
    window_s: int

    @property
    def window_ms(self) -> int:
        return self.window_s * 1000


@dataclass(frozen=True)
class Keys:
    client: str
    account: str
    known: str
    address: str
    member: str  # the address, as the known-address set holds it


class Window(NamedTuple):
    failures: int
    left_ms: int


@dataclass(frozen=True)
class Counts:
    client: Window
    account: Window
    address: Window
    known: bool


Verdict = tuple[str, int] | None  # (limit, wait in ms) when an attempt is refused


@dataclass(frozen=True)
class Attempt:
    """One admitted login; ``local``: its counters are this process's (Redis did not answer the check)."""

    keys: Keys
    local: bool
    redis_down: bool  # Redis is unreachable: the login should not wait for it again


class LocalWindows:
    """The same counters in this process, for when Redis cannot be asked. Bounded: the least recently used
    entries go first (an attacker's own keys are touched on every attempt, so they stay)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counters: OrderedDict[str, tuple[int, float]] = OrderedDict()  # key -> (count, window end)
        self._known: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()  # account -> address -> seen at

    def window(self, key: str) -> Window:
        entry = self._counters.get(key)
        if entry is None:
            return Window(0, 0)
        left = entry[1] - self._clock()
        if left <= 0:
            del self._counters[key]
            return Window(0, 0)
        self._counters.move_to_end(key)
        return Window(entry[0], math.ceil(left * 1000))

    def add(self, key: str, window_s: int) -> Window:
        now, current = self._clock(), self.window(key)
        ends = now + current.left_ms / 1000 if current.failures else now + window_s
        self._counters[key] = (current.failures + 1, ends)
        self._counters.move_to_end(key)
        while len(self._counters) > LOCAL_MAX_COUNTERS:
            self._counters.popitem(last=False)
        return Window(current.failures + 1, math.ceil((ends - now) * 1000))

    def clear(self, key: str) -> None:
        self._counters.pop(key, None)

    def knows(self, account: str, address: str) -> bool:
        addresses = self._known.get(account)
        seen = addresses.get(address) if addresses is not None else None
        return seen is not None and seen >= self._clock() - KNOWN_TTL_S

    def remember(self, account: str, address: str) -> None:
        addresses = self._known.setdefault(account, OrderedDict())
        addresses[address] = self._clock()
        addresses.move_to_end(address)
        while len(addresses) > KNOWN_KEEP:
            addresses.popitem(last=False)
        self._known.move_to_end(account)
        while len(self._known) > LOCAL_MAX_ACCOUNTS:
            self._known.popitem(last=False)

    def __len__(self) -> int:
        return len(self._counters)


class LoginThrottle:
    def __init__(
        self,
        ops: RedisOperations,
        settings: Settings,
        layout: KeyLayout,
        metrics: Metrics,
        local: LocalWindows | None = None,
    ) -> None:
        self.ops = ops
        self.layout = layout
        self.metrics = metrics
        self.local = local or LocalWindows()
        self.client = Limit(CLIENT, settings.login_max_failures_per_client, settings.login_client_window_s)
        self.account = Limit(ACCOUNT, settings.login_max_failures_per_account, settings.login_account_window_s)
        self.address = Limit(ADDRESS, settings.login_max_failures_per_address, settings.login_address_window_s)

    def keys(self, username: str, address: str) -> Keys:
        address = address or UNKNOWN_ADDRESS
        account = hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
        mine = self.layout.prefix(account)  # the account's hash tag on a cluster
        theirs = f"{P}{{a:{address}}}:" if self.layout.tagged else P
        return Keys(
            f"{mine}lfc:{account}:{address}",
            f"{mine}lfu:{account}",
            f"{mine}lka:{account}",
            f"{theirs}lfa:{address}",
            address,
        )

    # -- the three steps ------------------------------------------------------------------------------

    async def check(self, username: str, address: str) -> Attempt:
        """Before the password hash: raise LoginThrottled (429) when a limit is reached for this attempt."""
        keys = self.keys(username, address)
        local, down = False, False
        try:
            counts = await self.ops.safe_redis_operation("login_throttle_check", self._peek(keys))
        except StoreUnavailable:
            local, down = True, True
        except (StoreError, Overloaded):  # Redis refused, or we are saturated: count here, keep using Redis later
            local = True
        if local:
            counts = self._peek_local(keys)
        self._enforce(self._over(counts))
        return Attempt(keys, local, down)

    async def failed(self, attempt: Attempt) -> None:
        """A wrong password: count it; raise LoginThrottled when this guess finished past a budget."""
        keys, verdict = attempt.keys, None
        if not attempt.local:
            try:
                verdict = await self.ops.safe_redis_operation("login_throttle_fail", self._count_failure(keys))
            except (StoreUnavailable, StoreError, Overloaded):
                attempt = Attempt(keys, True, False)
        if attempt.local:
            verdict = self._fail_local(keys)
        self._enforce(verdict)

    async def succeeded(self, attempt: Attempt) -> None:
        """A right password: clear the client counter, remember the address; LoginThrottled past a budget."""
        keys, verdict = attempt.keys, None
        if not attempt.local:
            try:
                verdict = await self.ops.safe_redis_operation("login_throttle_success", self._count_success(keys))
            except (StoreUnavailable, StoreError, Overloaded):
                attempt = Attempt(keys, True, False)
        if attempt.local:
            verdict = self._succeed_local(keys)
        self._enforce(verdict)

    def _over(self, counts: Counts) -> Verdict:
        """The limit reached with the longest wait, if any (an address known to the account is exempt from
        the account and address limits, never from the client one)."""
        windows = ((self.client, counts.client), (self.account, counts.account), (self.address, counts.address))
        reached = [
            (limit.name, window.left_ms if window.left_ms > 0 else limit.window_ms)
            for limit, window in windows
            if limit.max_failures
            and window.failures >= limit.max_failures
            and (limit is self.client or not counts.known)
        ]
        return max(reached, key=lambda r: r[1]) if reached else None

    def _enforce(self, verdict: Verdict) -> None:
        if verdict is not None:
            limit, wait_ms = verdict
            self.metrics.login_throttled.labels(limit).inc()
            raise LoginThrottled(retry_after_s=max(1, math.ceil(wait_ms / 1000)))

    # -- Redis ----------------------------------------------------------------------------------------

    def _since_ms(self) -> int:
        return int((time.time() - KNOWN_TTL_S) * 1000)

    def _peek(self, keys: Keys) -> Callable[[Redis], Any]:
        async def peek(r: Redis) -> Counts:
            pipe = r.pipeline(transaction=False)
            for key in (keys.client, keys.account, keys.address):
                pipe.get(key)
                pipe.pttl(key)
            pipe.zscore(keys.known, keys.member)
            c, c_ttl, a, a_ttl, i, i_ttl, seen = await pipe.execute()
            known = seen is not None and float(seen) >= self._since_ms()
            return Counts(Window(int(c or 0), c_ttl), Window(int(a or 0), a_ttl), Window(int(i or 0), i_ttl), known)

        return peek

    def _account_keys(self, keys: Keys) -> list[str]:
        return [keys.client, keys.account, keys.known]

    def _count_failure(self, keys: Keys) -> Callable[[Redis], Any]:
        client, account, address = self.client, self.account, self.address

        async def count(r: Redis) -> Verdict:
            args: list[str | int] = [keys.member, self._since_ms(), client.max_failures, client.window_ms]
            args += [account.max_failures, account.window_ms]
            pipe = r.pipeline(transaction=False)
            pipe.eval(FAIL, 3, *self._account_keys(keys), *args)
            if address.max_failures:
                pipe.eval(COUNT, 1, keys.address, address.window_ms)
            answers = await pipe.execute()
            which, wait_ms, known = (int(x) for x in answers[0])
            if which:
                return VERDICTS[which], wait_ms
            if address.max_failures:
                failures, left_ms = (int(x) for x in answers[1])
                if failures > address.max_failures and not known:
                    return ADDRESS, left_ms
            return None

        return count

    def _count_success(self, keys: Keys) -> Callable[[Redis], Any]:
        client, account = self.client, self.account

        async def count(r: Redis) -> Verdict:
            args: list[str | int] = [keys.member, self._since_ms(), client.max_failures, account.max_failures]
            args += [int(time.time() * 1000), KNOWN_TTL_S * 1000, KNOWN_KEEP]
            answer = await r.eval(SUCCEED, 3, *self._account_keys(keys), *args)
            which, wait_ms = (int(x) for x in answer)
            return (VERDICTS[which], wait_ms) if which else None

        return count

    # -- in this process ------------------------------------------------------------------------------

    def _peek_local(self, keys: Keys) -> Counts:
        local = self.local
        windows = (local.window(keys.client), local.window(keys.account), local.window(keys.address))
        return Counts(*windows, known=local.knows(keys.known, keys.member))

    def _fail_local(self, keys: Keys) -> Verdict:
        """As FAIL and COUNT: past the client budget the account is not counted; the address always is."""
        local, known = self.local, self.local.knows(keys.known, keys.member)
        verdicts: list[Verdict] = []
        if self.client.max_failures:
            n, left = local.add(keys.client, self.client.window_s)
            verdicts.append((CLIENT, left) if n > self.client.max_failures else None)
        if self.account.max_failures and not any(verdicts):
            n, left = local.add(keys.account, self.account.window_s)
            verdicts.append((ACCOUNT, left) if n > self.account.max_failures and not known else None)
        if self.address.max_failures:
            n, left = local.add(keys.address, self.address.window_s)
            verdicts.append((ADDRESS, left) if n > self.address.max_failures and not known else None)
        return next((v for v in verdicts if v is not None), None)

    def _succeed_local(self, keys: Keys) -> Verdict:
        counts = self._peek_local(keys)
        verdict = self._over(Counts(counts.client, counts.account, Window(0, 0), counts.known))
        if verdict is None:
            self.local.clear(keys.client)
            self.local.remember(keys.known, keys.member)
        return verdict
