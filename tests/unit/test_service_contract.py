"""Contracts: parsed with errors that name the field, requests built where the contract says, answers read back
in canonical words, and a history that says nothing (404s) judged red, never green."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
import yaml

from authchaos.checks import CHECKERS, CheckContext
from authchaos.checks.expectations import Expectations
from authchaos.checks.judge import run_checks
from authchaos.record import protocol
from authchaos.record.exchange import build_request, read_answer
from authchaos.record.history import Op
from authchaos.record.service_contract import ContractError, load_contract, parse_contract
from authchaos.record.token_keys import TokenKeys, mint
from authchaos.workload.generator import skipped_operations
from authchaos.workload.legacy_corpus import build_corpus
from authchaos.workload.workload_spec import Workload

ROOT = Path(__file__).resolve().parents[2]
NODE = load_contract(ROOT / "examples" / "node-service" / "contract.yaml")
REFERENCE = load_contract()


def test_the_shipped_contracts_declare_every_operation() -> None:
    for contract in (REFERENCE, NODE):
        assert contract.declared() == [
            "login", "refresh", "logout", "logout_all", "blacklist", "me", "oauth_callback", "health"
        ]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"name": "x", "operations": {"login": {"path": "login"}}}, "operations.login.path: String should match"),
        (
            {"name": "x", "operations": {"me": {"path": "/me", "send": {"access": "header"}}}},
            "a request place is bearer, body:FIELD",
        ),
        ({"name": "x", "operations": {}, "errors": {"codes": {"reused": "R"}}}, "unknown outcome reused; known:"),
        ({"name": "x", "operations": {"me": {"path": "/me", "send": {"token": "bearer"}}}}, "unknown argument token"),
        ({"name": "x"}, "operations: Field required"),
    ],
)
def test_a_bad_contract_names_the_file_and_the_field(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(ContractError, match=r"^c\.yaml: ") as err:
        parse_contract(data, "c.yaml")
    assert fragment in str(err.value)


def test_a_missing_contract_file_is_one_line_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"cannot read the contract.*pass --contract FILE"):
        load_contract(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ContractError, match=r"bad\.yaml: line 2 is not valid YAML"):
        load_contract(tmp_path / "bad.yaml")


def test_requests_go_where_each_contract_says() -> None:
    node_refresh, ref_refresh = NODE.operations.refresh, REFERENCE.operations.refresh
    assert node_refresh is not None and ref_refresh is not None
    assert build_request(node_refresh, {"refresh": "R"}).json == {"refreshToken": "R"}
    assert build_request(ref_refresh, {"refresh": "R"}).json == {"refresh_token": "R"}
    logout_all = NODE.operations.logout_all
    assert logout_all is not None
    req = build_request(logout_all, {"access": "A"})
    assert (req.path, req.headers, req.json) == ("/api/v1/auth/logout", {"Authorization": "Bearer A"}, {"all": True})
    oauth = NODE.operations.oauth_callback
    assert oauth is not None
    assert build_request(oauth, {"username": "bob"}).params == {"provider": "demo", "code": "user:bob"}


def test_answers_come_back_in_canonical_words() -> None:
    login = NODE.operations.login
    assert login is not None
    pair = {"success": True, "data": {"accessToken": "A", "refreshToken": "R"}}
    got = read_answer(NODE, login, 200, pair, {})
    assert (got.body["access_token"], got.body["refresh_token"], got.undeclared) == ("A", "R", None)
    reused = {"success": False, "error": {"code": "TOKEN_REUSED", "message": "Refresh token reuse detected"}}
    got = read_answer(NODE, login, 401, reused, {})
    assert got.body == {"error": "token_reused", "message": "Refresh token reuse detected"} and got.undeclared is None
    assert read_answer(NODE, login, 404, {"detail": "Not Found"}, {}).undeclared == "404 no declared error code"
    assert (
        read_answer(NODE, login, 200, {"data": {}}, {}).undeclared
        == "200 without the declared access_token, refresh_token"
    )
    assert read_answer(NODE, login, 418, {"error": {"code": "TEAPOT"}}, {}).undeclared == "418 error 'TEAPOT'"


def _ops(*rows: tuple[str, int, str | None]) -> list[Op]:
    return [
        Op(i, 0, op, i * 10**8, i * 10**8 + 1, "ok" if status < 300 else "fail", status, undeclared=undeclared)
        for i, (op, status, undeclared) in enumerate(rows)
    ]


def test_a_history_of_nothing_but_404s_is_red() -> None:
    ops = _ops(*[("login", 404, "404 no declared error code")] * 20, *[("me", 404, "404 no declared error code")] * 30)
    result = CHECKERS["contract_conformance"](CheckContext(ops, [], Expectations()))
    assert not result.passed
    assert "30x me: 404 no declared error code" in result.summary and "login never succeeded" in result.summary


def test_conformance_passes_when_every_answer_was_declared() -> None:
    ops = _ops(("login", 200, None), ("me", 200, None), ("me", 401, None), ("me", 401, None), ("me", 401, None))
    assert CHECKERS["contract_conformance"](CheckContext(ops, [], Expectations())).passed
    never = _ops(("login", 200, None), *[("refresh", 401, None)] * 4)
    result = CHECKERS["contract_conformance"](CheckContext(never, [], Expectations()))
    assert not result.passed and "refresh never succeeded (4 answers)" in result.summary
    assert not CHECKERS["contract_conformance"](CheckContext([], [], Expectations())).passed


def test_a_service_without_logout_all_and_blacklist() -> None:
    data = REFERENCE.model_dump(mode="json")
    data["operations"] |= {"logout": None, "logout_all": None, "blacklist": None}
    data["users"]["admin"] = None
    minimal = parse_contract(data, "minimal.yaml")
    mix = {"me": 5.0, "refresh": 3.0, "logout_all": 1.0, "blacklist_batch": 1.0, "logout": 1.0}
    skipped = skipped_operations(Workload(mix=mix), minimal)
    assert skipped == {
        "logout_all": ["logout_all"], "blacklist_batch": ["blacklist", "an admin user"], "logout": ["logout"]
    }  # fmt: skip
    results = run_checks(
        CheckContext([], [], Expectations()), ["revocations_stick", "rotation_once"], minimal.declared()
    )
    assert not results[0].applicable and results[0].passed  # shown "not applicable", never counted as a pass
    assert results[0].summary == "not applicable: the contract declares no logout or logout_all or blacklist"
    assert results[1].name == "rotation_once" and "contract" not in results[1].summary


def test_minted_tokens_and_the_corpus_spell_claims_as_the_contract_does() -> None:
    """A service whose tokens say ``jti``/``sid``/``typ`` gets workload and corpus tokens in its own words, and the
    history reads them back under the canonical names."""
    data = REFERENCE.model_dump(mode="json") | {"claims": {"id": "jti", "family": "sid", "type": "typ"}}
    names = parse_contract(data, "c.yaml").claims.names
    keys = TokenKeys("a" * 40, "r" * 40)
    token = mint(keys, "refresh", {"sub": "alice", "tokenId": "t1", "family": "f1"}, ttl_s=60, names=names)
    raw = jwt.decode(token, options={"verify_signature": False})
    assert (raw["jti"], raw["sid"], raw["typ"]) == ("t1", "f1", "refresh")
    assert not {"tokenId", "family", "type"} & set(raw)
    assert {k: protocol.peek(token, names)[k] for k in ("tokenId", "family", "type")} == {
        "tokenId": "t1",
        "family": "f1",
        "type": "refresh",
    }
    corpus = {e.id: jwt.decode(e.token, options={"verify_signature": False}) for e in build_corpus(keys, names)}
    assert corpus["current-1"]["jti"] == "corpus-t1" and corpus["current-1"]["typ"] == "refresh"
    assert corpus["access-1"]["sid"] == "corpus-fa" and "tokenId" not in corpus["access-1"]
    assert "jti" not in corpus["legacy-1"]  # the pre-fix shape has none of them, in any spelling
    assert build_corpus(keys)[3].token != build_corpus(keys, names)[3].token


def test_the_readme_minimal_contract_is_valid_and_its_verdicts_say_not_applicable() -> None:
    """The README's second example, read from the README itself: it must stay a valid contract, and what it
    leaves out must be skipped by the workload and named by the checks."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**A service with fewer operations**") :]
    block = section[section.index("```yaml\n") + len("```yaml\n") : section.index("```\n", section.index("```yaml"))]
    minimal = parse_contract(yaml.safe_load(block), "README.md")
    assert minimal.declared() == ["login", "refresh", "logout", "me", "health"]
    skipped = skipped_operations(Workload(mix={"me": 5.0, "logout_all": 1.0, "blacklist_batch": 1.0}), minimal)
    assert skipped == {"logout_all": ["logout_all"], "blacklist_batch": ["blacklist", "an admin user"]}
    judged = run_checks(CheckContext([], [], Expectations()), ["exposure_window"], minimal.declared())[0]
    assert "contract declares no" not in judged.summary  # logout is declared: revocations are judged
    gone = minimal.model_copy(update={"operations": minimal.operations.model_copy(update={"logout": None})})
    result = run_checks(CheckContext([], [], Expectations()), ["exposure_window"], gone.declared())[0]
    assert result.summary == "not applicable: the contract declares no logout or logout_all or blacklist"


def test_a_setting_the_contract_does_not_pass_on_is_named() -> None:
    """The reference service reads every setting; the node service only those its start.env maps."""
    wanted = ["AUTHCHAOS_REVOCATION_DURABILITY", "AUTHCHAOS_REUSE_GRACE_S"]
    assert REFERENCE.unmapped(wanted) == []
    assert NODE.unmapped(wanted) == ["AUTHCHAOS_REVOCATION_DURABILITY"]
