"""Settings: environment parsing, bug switches and the production guard."""

from __future__ import annotations

import pytest

from authchaos_reference.config import ConfigError, load_settings


def test_bugs_parse_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHCHAOS_BUGS", "strict_type, no_breaker")
    assert load_settings().bugs == {"strict_type", "no_breaker"}


def test_unknown_bug_names_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHCHAOS_BUGS", "typo_bug")
    with pytest.raises(ConfigError, match=r"unknown bug switch typo_bug; known: .*legacy_fallback_tokens"):
        load_settings()


def test_bad_number_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHCHAOS_REUSE_GRACE_S", "120")
    with pytest.raises(ConfigError, match="AUTHCHAOS_REUSE_GRACE_S"):
        load_settings()


def test_same_secret_for_both_kinds_is_refused() -> None:
    with pytest.raises(ConfigError, match="must differ"):
        load_settings(jwt_access_secret="x" * 40, jwt_refresh_secret="x" * 40)


def test_production_refuses_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHCHAOS_ENV", "production")
    with pytest.raises(ConfigError) as err:
        load_settings()
    msg = str(err.value)
    assert "AUTHCHAOS_JWT_ACCESS_SECRET is the development default" in msg
    assert "demo users" in msg and "memory://" in msg


def test_production_refuses_short_secrets_and_accepts_good_ones(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    users = tmp_path / "users.json"
    users.write_text("[]")
    monkeypatch.setenv("AUTHCHAOS_ENV", "production")
    monkeypatch.setenv("AUTHCHAOS_USERS", str(users))
    monkeypatch.setenv("AUTHCHAOS_REDIS_URL", "redis://127.0.0.1:6379")
    monkeypatch.setenv("AUTHCHAOS_JWT_ACCESS_SECRET", "short")
    monkeypatch.setenv("AUTHCHAOS_JWT_REFRESH_SECRET", "r" * 48)
    with pytest.raises(ConfigError, match="ACCESS_SECRET is shorter than 32 bytes"):
        load_settings()
    monkeypatch.setenv("AUTHCHAOS_JWT_ACCESS_SECRET", "a" * 48)
    assert load_settings().env == "production"


def test_secrets_never_show_in_repr() -> None:
    s = load_settings(jwt_access_secret="top-secret-value-" * 3)
    assert "top-secret-value" not in repr(s)
