"""Service settings, read once from the environment (prefix ``AUTHCHAOS_``).

One object carries every knob so the harness can start the service with a
plain environment dict, and so production refuses unsafe defaults at start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from reference_impl.bugs import parse_bugs

DEV_ACCESS_SECRET = "authchaos-dev-access-secret-do-not-use-in-production"
DEV_REFRESH_SECRET = "authchaos-dev-refresh-secret-do-not-use-in-production"
MIN_SECRET_BYTES = 32


class ConfigError(Exception):
    """A setting is wrong; the message names it and says how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTHCHAOS_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"

    # Redis (seed values from the original ioredis configuration)
    redis_url: str = "memory://"
    redis_connect_timeout_s: float = Field(10.0, gt=0)
    redis_command_timeout_s: float = Field(5.0, gt=0)
    redis_retries: int = Field(3, ge=0, le=10)
    redis_retry_base_ms: int = Field(100, ge=0)
    redis_retry_cap_ms: int = Field(2000, ge=0)
    redis_keepalive_s: int = Field(30, ge=0)
    redis_tls_ca: Path | None = None
    redis_tls_cert: Path | None = None
    redis_tls_key: Path | None = None
    breaker_failure_threshold: int = Field(3, ge=1)
    breaker_reset_s: float = Field(1.0, gt=0)
    probe_interval_s: float = Field(0.5, gt=0)

    # Tokens
    jwt_access_secret: SecretStr = SecretStr(DEV_ACCESS_SECRET)
    jwt_refresh_secret: SecretStr = SecretStr(DEV_REFRESH_SECRET)
    jwt_access_retired_secrets: Annotated[list[SecretStr], NoDecode] = []
    jwt_refresh_retired_secrets: Annotated[list[SecretStr], NoDecode] = []
    issuer: str = "authchaos"
    audience: str = "authchaos-api"
    access_ttl_s: int = Field(900, gt=0)
    refresh_ttl_s: int = Field(7 * 24 * 3600, gt=0)
    reuse_grace_s: float = Field(0.0, ge=0, le=60)
    leeway_s: int = Field(5, ge=0, le=60)
    max_token_bytes: int = Field(8192, ge=512)

    # Policy
    degraded_max_s: float = Field(30.0, ge=0)
    user_cache_ttl_s: int = Field(300, ge=1)
    blacklist_chunk: int = Field(1000, ge=1, le=10_000)
    blacklist_max: int = Field(10_000, ge=1)

    users: Path | None = None
    bugs: Annotated[frozenset[str], NoDecode] = frozenset()

    @field_validator("bugs", mode="before")
    @classmethod
    def _parse_bugs(cls, value: object) -> frozenset[str]:
        if isinstance(value, str):
            return parse_bugs(value)
        return frozenset(value)  # type: ignore[arg-type]

    @field_validator("jwt_access_retired_secrets", "jwt_refresh_retired_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [s for s in (part.strip() for part in value.split(",")) if s]
        return value

    @model_validator(mode="after")
    def _distinct_keys(self) -> Settings:
        if self.jwt_access_secret.get_secret_value() == self.jwt_refresh_secret.get_secret_value():
            raise ValueError(
                "AUTHCHAOS_JWT_ACCESS_SECRET and AUTHCHAOS_JWT_REFRESH_SECRET must differ "
                "(one key per token kind keeps access tokens out of the refresh path)"
            )
        return self

    def production_problems(self) -> list[str]:
        """What makes these settings unfit for production (empty when fine)."""
        problems: list[str] = []
        for name, secret, default in (
            ("AUTHCHAOS_JWT_ACCESS_SECRET", self.jwt_access_secret, DEV_ACCESS_SECRET),
            ("AUTHCHAOS_JWT_REFRESH_SECRET", self.jwt_refresh_secret, DEV_REFRESH_SECRET),
        ):
            value = secret.get_secret_value()
            if value == default:
                problems.append(f"{name} is the development default: set a random secret of 32+ bytes")
            elif len(value.encode()) < MIN_SECRET_BYTES:
                problems.append(f"{name} is shorter than {MIN_SECRET_BYTES} bytes: use a random secret")
        if self.users is None:
            problems.append("the demo users are enabled: point AUTHCHAOS_USERS at a users file")
        if self.bugs:
            problems.append(f"AUTHCHAOS_BUGS re-introduces known bugs ({','.join(sorted(self.bugs))}): unset it")
        if self.redis_url.startswith("memory://"):
            problems.append("AUTHCHAOS_REDIS_URL is memory:// (in-process, lost on restart): use a real Redis")
        return problems


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; explicit overrides (CLI flags) win."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(**clean)  # type: ignore[arg-type]
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
