"""Service settings, read once from the environment (prefix ``AUTHCHAOS_``).

One object carries every knob so the harness can start the service with a
plain environment dict, and so production refuses unsafe defaults at start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from authchaos_reference.bugs import parse_bugs

DEV_ACCESS_SECRET = "authchaos-dev-access-secret-do-not-use-in-production"
DEV_REFRESH_SECRET = "authchaos-dev-refresh-secret-do-not-use-in-production"
MIN_SECRET_BYTES = 32
DEGRADED_MAX_S_PRODUCTION = 300.0


class ConfigError(Exception):
    """A setting is wrong; the message names it and says how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTHCHAOS_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"

    # Redis. A command takes well under a millisecond: a user must not wait seconds to learn that
    # Redis is away. With these defaults no request waits more than worst_request_wait_s() (0.45 s)
    # and requests answer fast (degraded or 503) after time_to_fast_answer_s() (0.6 s); `make bench`
    # measures both. The seed's ioredis values were 10 s / 5 s / 3 retries.
    redis_url: str = "memory://"
    redis_connect_timeout_s: float = Field(0.2, gt=0)
    redis_command_timeout_s: float = Field(0.2, gt=0)
    redis_retries: int = Field(1, ge=0, le=10)
    redis_retry_base_ms: int = Field(10, ge=0)
    redis_retry_cap_ms: int = Field(50, ge=0)
    redis_keepalive_s: int = Field(30, ge=0)
    redis_tls_ca: Path | None = None
    redis_tls_cert: Path | None = None
    redis_tls_key: Path | None = None
    breaker_failure_threshold: int = Field(3, ge=1)
    breaker_reset_s: float = Field(1.0, gt=0)
    probe_interval_s: float = Field(0.5, gt=0)
    outage_settle_s: float = Field(10.0, ge=0)  # an outage ends after this long without a single failure
    # "replicas:N": revocations and rotations are answered only once N replicas have them (WAIT N), else 503.
    revocation_durability: str = ""
    # WAIT's own bound. Redis checks it on its 100 ms clock (hz 10), so it must leave that much of the command timeout.
    revocation_durability_timeout_ms: int = Field(50, ge=1, le=10_000)

    # Tokens
    jwt_access_secret: SecretStr = SecretStr(DEV_ACCESS_SECRET)
    jwt_refresh_secret: SecretStr = SecretStr(DEV_REFRESH_SECRET)
    jwt_access_retired_secrets: Annotated[list[SecretStr], NoDecode] = []
    jwt_refresh_retired_secrets: Annotated[list[SecretStr], NoDecode] = []
    issuer: str = "authchaos"
    audience: str = "authchaos-api"
    access_ttl_s: int = Field(900, gt=0)
    refresh_ttl_s: int = Field(7 * 24 * 3600, gt=0)
    # The absolute lifetime of a session (a family), counted from the login however often it rotates (ASVS 5.0
    # 7.3.2): refresh_ttl_s is the idle timeout. 0 is unbounded, refused in production.
    session_max_s: int = Field(30 * 24 * 3600, ge=0)
    reuse_grace_s: float = Field(0.0, ge=0, le=60)
    leeway_s: int = Field(5, ge=0, le=60)
    max_token_bytes: int = Field(8192, ge=512)

    # Policy
    degraded_max_s: float = Field(30.0, ge=0)
    users_reload_s: float = Field(1.0, gt=0, le=3600)  # how often each process looks for a changed users file
    blacklist_chunk: int = Field(1000, ge=1, le=10_000)
    blacklist_max: int = Field(10_000, ge=1)

    max_body_bytes: int = Field(64 * 1024, ge=1024)  # every route but the batch blacklist
    # Request heads, refused by authchaos_reference.http_limits before the app runs (431, 414, 408).
    http_max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)  # request line + headers
    http_max_headers: int = Field(100, ge=16, le=10_000)
    http_max_url_bytes: int = Field(8192, ge=256)
    http_header_timeout_s: float = Field(10.0, ge=0.1, le=300)
    http_body_timeout_s: float = Field(30.0, ge=0.1, le=3600)  # from the head to the body's last byte
    http_parser: Literal["auto", "httptools", "h11"] = "auto"  # the default of `authchaos serve --http`

    @model_validator(mode="after")
    def _head_fits(self) -> Settings:
        if self.http_max_header_bytes < self.max_token_bytes + 1024:
            raise ValueError(
                f"AUTHCHAOS_HTTP_MAX_HEADER_BYTES must be at least AUTHCHAOS_MAX_TOKEN_BYTES + 1024 "
                f"({self.max_token_bytes + 1024}): a request carrying a bearer token of the largest size must fit"
            )
        if self.http_max_url_bytes > self.http_max_header_bytes:
            raise ValueError("AUTHCHAOS_HTTP_MAX_URL_BYTES must not exceed AUTHCHAOS_HTTP_MAX_HEADER_BYTES")
        return self

    blacklist_max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    login_hash_threads: int = Field(2, ge=1, le=64)  # PBKDF2 runs here, never on the event loop
    # Brute-force limits (login_throttle.py): failures per fixed window; 0 turns a limit off.
    login_max_failures_per_client: int = Field(5, ge=0, le=10_000)  # one account from one address
    login_client_window_s: int = Field(900, ge=1, le=86_400)
    login_max_failures_per_account: int = Field(100, ge=0, le=100_000)  # every address but the account's known ones
    login_account_window_s: int = Field(3600, ge=1, le=86_400)
    login_max_failures_per_address: int = Field(100, ge=0, le=100_000)  # one address, every account (spraying)
    login_address_window_s: int = Field(900, ge=1, le=86_400)
    # The client address from this header's last entry (x-forwarded-for): only behind a proxy you control.
    login_client_header: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9-]*$")
    # Load shedding (503 overloaded): requests in progress, and how far the event loop may lag behind.
    max_inflight: int = Field(256, ge=1)
    shed_lag_s: float = Field(0.1, gt=0)

    users: Path | None = None
    oauth_demo: bool | None = None  # the network-free demo provider; default: on except in production
    bugs: Annotated[frozenset[str], NoDecode] = frozenset()

    @field_validator("bugs", mode="before")
    @classmethod
    def _parse_bugs(cls, value: object) -> frozenset[str]:
        if isinstance(value, str):
            return parse_bugs(value)
        if isinstance(value, list | tuple | set | frozenset):
            return frozenset(str(v) for v in value)
        raise ValueError("AUTHCHAOS_BUGS must be a comma-separated list of switch names")

    @field_validator("jwt_access_retired_secrets", "jwt_refresh_retired_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [s for s in (part.strip() for part in value.split(",")) if s]
        return value

    @field_validator("revocation_durability")
    @classmethod
    def _durability(cls, value: str) -> str:
        value = value.strip()
        if value and not (
            value.startswith("replicas:")
            and value.removeprefix("replicas:").isdigit()
            and int(value.removeprefix("replicas:")) >= 1
        ):
            raise ValueError("AUTHCHAOS_REVOCATION_DURABILITY must be empty (off) or replicas:N with N >= 1")
        return value

    @property
    def durable_replicas(self) -> int:
        """N of ``replicas:N``; 0 when revocations are acknowledged as soon as the primary has them."""
        return int(self.revocation_durability.removeprefix("replicas:")) if self.revocation_durability else 0

    @model_validator(mode="after")
    def _durability_fits(self) -> Settings:
        if self.durable_replicas and self.redis_url.startswith("redis+cluster:"):
            raise ValueError(
                "AUTHCHAOS_REVOCATION_DURABILITY needs redis://, rediss:// or redis+sentinel:// (WAIT must follow the "
                "write on its connection: not supported through the cluster client)"
            )
        if self.durable_replicas and self.revocation_durability_timeout_ms / 1000 + 0.1 > self.redis_command_timeout_s:
            raise ValueError(
                "AUTHCHAOS_REVOCATION_DURABILITY_TIMEOUT_MS must leave 100 ms of AUTHCHAOS_REDIS_COMMAND_TIMEOUT_S "
                "(Redis times WAIT out on its 100 ms clock)"
            )
        return self

    @model_validator(mode="after")
    def _distinct_keys(self) -> Settings:
        access = {self.jwt_access_secret.get_secret_value()} | {
            s.get_secret_value() for s in self.jwt_access_retired_secrets
        }
        refresh = {self.jwt_refresh_secret.get_secret_value()} | {
            s.get_secret_value() for s in self.jwt_refresh_retired_secrets
        }
        if access & refresh:
            raise ValueError(
                "AUTHCHAOS_JWT_ACCESS_SECRET and AUTHCHAOS_JWT_REFRESH_SECRET must differ, retired ones included: "
                "a secret used for both token kinds lets access tokens into the refresh path"
            )
        return self

    @property
    def oauth_demo_enabled(self) -> bool:
        """The demo provider logs anyone in as anyone: by default only with the demo users, never in production."""
        if self.oauth_demo is not None:
            return self.oauth_demo
        return self.env != "production" and self.users is None

    def worst_request_wait_s(self) -> float:
        """The longest one request can wait on Redis: a connect, one command, and the retry pauses.

        Timeouts are never retried (a timed-out command may have run); only instant connection
        failures are, after a backoff capped by ``redis_retry_cap_ms``.
        """
        pauses = self.redis_retries * self.redis_retry_cap_ms / 1000
        return self.redis_connect_timeout_s + self.redis_command_timeout_s + pauses

    def time_to_fast_answer_s(self) -> float:
        """How long a client calling one request after another waits before the breaker opens."""
        return self.breaker_failure_threshold * self.redis_command_timeout_s

    def production_problems(self) -> list[str]:
        """What makes these settings unfit for production (empty when fine)."""
        problems = self._secret_problems()
        if self.users is None:
            problems.append("the demo users are enabled: point AUTHCHAOS_USERS at a users file")
        else:
            problems += _users_file_problems(self.users)
        if self.bugs:
            problems.append(f"AUTHCHAOS_BUGS re-introduces known bugs ({','.join(sorted(self.bugs))}): unset it")
        if self.redis_url.startswith("memory://"):
            problems.append("AUTHCHAOS_REDIS_URL is memory:// (in-process, lost on restart): use a real Redis")
        if self.oauth_demo:
            problems.append("AUTHCHAOS_OAUTH_DEMO enables the demo provider (anyone can log in as anyone): unset it")
        if not (self.login_max_failures_per_client and self.login_max_failures_per_account):
            problems.append("AUTHCHAOS_LOGIN_MAX_FAILURES_PER_CLIENT/_PER_ACCOUNT is 0: passwords could be guessed")
        if self.session_max_s == 0:
            problems.append(
                "AUTHCHAOS_SESSION_MAX_S is 0: a session rotated often enough would live forever; set an absolute "
                "lifetime (default 2592000, 30 days)"
            )
        if self.degraded_max_s > DEGRADED_MAX_S_PRODUCTION:
            problems.append(
                f"AUTHCHAOS_DEGRADED_MAX_S is {self.degraded_max_s:g}: revoked tokens would be accepted that long "
                f"during an outage; use at most {DEGRADED_MAX_S_PRODUCTION:g}"
            )
        return problems

    def _secret_problems(self) -> list[str]:
        named = [
            ("AUTHCHAOS_JWT_ACCESS_SECRET", [self.jwt_access_secret]),
            ("AUTHCHAOS_JWT_REFRESH_SECRET", [self.jwt_refresh_secret]),
            ("AUTHCHAOS_JWT_ACCESS_RETIRED_SECRETS", self.jwt_access_retired_secrets),
            ("AUTHCHAOS_JWT_REFRESH_RETIRED_SECRETS", self.jwt_refresh_retired_secrets),
        ]
        problems: list[str] = []
        for name, secrets in named:
            values = [s.get_secret_value() for s in secrets]
            if any(v in (DEV_ACCESS_SECRET, DEV_REFRESH_SECRET) for v in values):
                problems.append(f"{name} is the development default: set a random secret of 32+ bytes")
            elif any(len(v.encode()) < MIN_SECRET_BYTES for v in values):
                problems.append(f"{name} is shorter than {MIN_SECRET_BYTES} bytes: use a random secret")
        return problems


def _users_file_problems(path: Path) -> list[str]:
    """Plaintext passwords in the users file (the ``password`` field exists for test fixtures only)."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return []  # the users loader reports an unreadable file with its own message
    entries = raw if isinstance(raw, list) else []
    plain = [
        str(e.get("username", i))
        for i, e in enumerate(entries)
        if isinstance(e, dict) and ("password" in e or str(e.get("password_hash", "")).startswith("plain$"))
    ]
    if not plain:
        return []
    return [f"AUTHCHAOS_USERS has plaintext passwords ({', '.join(plain[:3])}): store pbkdf2_sha256 hashes"]


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; explicit overrides (CLI flags) win."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(**clean)  # type: ignore[arg-type]  # pydantic-settings: field values arrive untyped from the CLI
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        env = f"AUTHCHAOS_{field.upper()}" if first["loc"] else "settings"
        raise ConfigError(f"invalid {env}: {first['msg']}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if settings.env == "production":
        problems = settings.production_problems()
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))
    return settings
