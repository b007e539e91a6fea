"""`authchaos contract init`: a valid, commented contract skeleton from an OpenAPI document."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from authchaos.drivers.contract_init import OpenApiError, draft_contract
from authchaos.record.service_contract import OPERATION_NAMES, load_contract, parse_contract
from authchaos_reference.app import create_app
from authchaos_reference.config import load_settings
from tests.support import authchaos

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"
URL = "http://127.0.0.1:9"


def _draft(text: str, source: str = "doc") -> tuple[str, dict[str, object]]:
    out, _, _ = draft_contract(text, source, url=URL, name="drafted")
    return out, yaml.safe_load(out)


def test_the_reference_services_own_document_gives_its_shipped_contract() -> None:
    doc = create_app(load_settings(redis_url="memory://init")).openapi()
    text, _ = _draft(json.dumps(doc))
    drafted, shipped = parse_contract(yaml.safe_load(text), "drafted"), load_contract()
    assert drafted.declared() == shipped.declared() == list(OPERATION_NAMES)
    for name in OPERATION_NAMES:
        got, want = drafted.operation(name), shipped.operation(name)
        assert got is not None and want is not None
        assert (got.method, got.path, got.send) == (want.method, want.path, want.send), name
        assert got.tokens == want.tokens, name  # its answers have no schema: the guesses are marked TODO
    assert drafted.operation("logout_all").const == {"body:all": True}  # type: ignore[union-attr]
    assert "TODO: the answer's schema does not show the access token" in text
    assert set(drafted.errors.codes) >= {"token_reused", "store_unavailable", "invalid_token"}


def test_a_flask_style_document_declares_what_it_has_and_nothing_else() -> None:
    text, raw = _draft((FIXTURES / "flask_service.yaml").read_text())
    contract = parse_contract(raw, "flask")
    assert contract.declared() == ["login", "refresh", "logout", "me", "health"]
    login, refresh, logout = (contract.operation(n) for n in ("login", "refresh", "logout"))
    assert login is not None and login.path == "/api/v1/auth/login"
    assert login.send == {"username": "body:email", "password": "body:password"}
    assert login.tokens == {"access": "body:data.accessToken", "refresh": "body:data.refreshToken"}
    assert refresh is not None and refresh.send == {"refresh": "bearer"}  # the refresh token in Authorization
    assert logout is not None and (logout.method, logout.send) == ("DELETE", {"access": "bearer"})
    assert "TODO: the document shows no refresh token field: logout sends the access token only" in text
    for absent in ("logout_all", "blacklist", "oauth_callback"):
        assert f"  {absent}: null    # not found in the document" in text
    assert "/api/v1/users/{id}" not in text  # an ordinary resource route is no auth operation


def test_a_swagger_2_document_with_body_parameters() -> None:
    _, raw = _draft((FIXTURES / "swagger2_service.json").read_text())
    contract = parse_contract(raw, "swagger2")
    assert contract.declared() == ["login", "refresh", "blacklist", "health"]
    login, blacklist = contract.operation("login"), contract.operation("blacklist")
    assert login is not None and login.path == "/session/signin"
    assert login.tokens == {"access": "body:token", "refresh": "body:refresh_token"}
    assert blacklist is not None and blacklist.send == {"access": "bearer", "tokens": "body:tokens"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "not JSON or YAML"),
        ("title: x\n", "not an OpenAPI document (no `paths:`)"),
        ("paths: {}\n", "no `openapi:` or `swagger:` version"),
    ],
)
def test_what_is_not_an_openapi_document_is_named(text: str, says: str) -> None:
    with pytest.raises(OpenApiError, match=re.escape(says)):
        draft_contract(text, "api.yaml", url=URL, name="x")


def test_the_command_writes_a_skeleton_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "contract.yaml"
    spec = str(FIXTURES / "flask_service.yaml")
    done = authchaos("contract", "init", "--openapi", spec, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "5 operations declared (login, refresh, logout, me, health)" in done.stdout
    assert f"next: authchaos contract check --target http://127.0.0.1:5000 --contract {out}" in done.stdout
    assert load_contract(out).name == "accounts-api"  # the document's title, as a contract name
    again = authchaos("contract", "init", "--openapi", spec, "--out", str(out))
    assert again.returncode == 2 and "exists: pass --force to overwrite it" in again.stderr
    assert again.stderr.count("\n") == 1 and "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "pass --openapi FILE_OR_URL or --target URL (one of them)"),
        (("--openapi", "/nonexistent/openapi.json"), "No such file or directory; pass the path"),
        (("--target", "http://127.0.0.1:9"), "cannot reach http://127.0.0.1:9/openapi.json"),
        (("--openapi", str(FIXTURES.parent / "user_project" / "pyproject.toml")), "pyproject.toml: not JSON or YAML"),
    ],
)
def test_bad_input_is_one_line(args: tuple[str, ...], says: str, tmp_path: Path) -> None:
    done = authchaos("contract", "init", *args, "--out", str(tmp_path / "c.yaml"))
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_base_paths_templates_and_odd_documents() -> None:
    swagger = {
        "swagger": "2.0",
        "basePath": "/v1",
        "paths": {
            "/auth/login": {"post": {"operationId": None, "responses": {"200": {"description": "ok"}}}},
            "/users/{userId}/logout": {"post": {"responses": {"200": {"description": "ok"}}}},
        },
    }
    text, raw = _draft(json.dumps(swagger))
    contract = parse_contract(raw, "swagger")
    assert contract.operation("login").path == "/v1/auth/login"  # type: ignore[union-attr]
    assert "TODO: the path has a template ({...})" in text
    servers = {"openapi": "3.0.0", "servers": [{"url": "/api/v2"}], "components": None, "paths": {
        "/healthz": {"get": {"responses": {"200": {"description": "up"}}}},
    }}  # fmt: skip
    _, raw = _draft(json.dumps(servers))
    assert parse_contract(raw, "servers").operation("health").path == "/api/v2/healthz"  # type: ignore[union-attr]
    for name in ("on", "2024", "null"):  # YAML would read these as a bool, a number and nothing
        out, _, _ = draft_contract(json.dumps(servers), "doc", url=URL, name=name)
        assert parse_contract(yaml.safe_load(out), "c").name == name


def test_an_unwritable_out_is_one_line(tmp_path: Path) -> None:
    spec = str(FIXTURES / "flask_service.yaml")
    done = authchaos("contract", "init", "--openapi", spec, "--out", str(tmp_path / "no" / "such" / "c.yaml"))
    assert done.returncode == 2 and "pass a path in an existing, writable folder" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
