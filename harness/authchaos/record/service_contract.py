"""A service's contract: how the harness talks to *your* auth service, and how it reads the answers.

The checkers judge one canonical history (``record.protocol``): ``ok``/``fail``, a canonical error code
(``token_reused``, ``store_unavailable``, ...), a degraded flag. A contract says, per operation, the method,
the path, where each credential or token goes in the request and where the tokens are in the answer, and
how the service spells each outcome; the workload builds requests from it and turns answers back into
canonical rows. Operations a service lacks are declared absent (``null``): the workload skips them and
the checks that need them say "not applicable". The reference service's own contract ships as package
data (``scenario_files/contracts/reference.yaml``) and is the default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from authchaos.record.strict_model import StrictModel, validation_message, yaml_text

OPERATION_NAMES = ("login", "refresh", "logout", "logout_all", "blacklist", "me", "oauth_callback", "health")
# The canonical outcomes the checkers read; a contract maps the service's own codes onto them.
CANONICAL_ERRORS = (
    "invalid_credentials",
    "invalid_token",
    "token_reused",
    "token_revoked",
    "token_expired",
    "store_unavailable",
    "overloaded",
    "forbidden",
    "payload_too_large",
    "invalid_grant",
    "bad_request",
    "login_throttled",
)
# What an operation's arguments are: credentials, tokens, flags. A place says where each goes.
ARGUMENTS = ("username", "password", "access", "refresh", "tokens", "code")
PLACE = re.compile(r"^(bearer|body:[A-Za-z0-9_.-]+|query:[A-Za-z0-9_.-]+|header:[A-Za-z0-9-]+|cookie:[A-Za-z0-9_.-]+)$")
ANSWER_PLACE = re.compile(r"^(body:[A-Za-z0-9_.-]+|header:[A-Za-z0-9-]+|cookie:[A-Za-z0-9_.-]+)$")
DEFAULT_FILE = "reference.yaml"


class ContractError(Exception):
    """A contract file is wrong; the message names the file, the field and the fix."""


def _places(places: dict[str, str], pattern: re.Pattern[str], what: str) -> dict[str, str]:
    bad = [f"{k}: {v!r}" for k, v in places.items() if not pattern.match(v)]
    if bad:
        raise ValueError(f"{', '.join(bad)}: a {what} is bearer, body:FIELD, query:NAME, header:NAME or cookie:NAME")
    return places


class Operation(StrictModel):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str = Field(pattern=r"^/", description="the path, with a leading slash")
    send: dict[str, str] = Field(
        default_factory=dict, description="argument -> place: bearer, body:FIELD, query:NAME, header:NAME, cookie:NAME"
    )
    const: dict[str, Any] = Field(
        default_factory=dict, description="place -> fixed value ({username} is filled in), e.g. body:all: true"
    )
    tokens: dict[Literal["access", "refresh"], str] = Field(
        default_factory=dict, description="where the issued tokens are in the answer: body:data.accessToken, ..."
    )
    follow_redirects: bool = Field(
        False, description="follow the answer's redirects (an OAuth authorize that sends the browser to the callback)"
    )

    @field_validator("send")
    @classmethod
    def _send(cls, send: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(send) - set(ARGUMENTS))
        if unknown:
            raise ValueError(f"unknown argument {', '.join(unknown)}; known: {', '.join(ARGUMENTS)}")
        return _places(send, PLACE, "request place")

    @field_validator("tokens")
    @classmethod
    def _tokens(cls, tokens: dict[str, str]) -> dict[str, str]:
        return _places(dict(tokens), ANSWER_PLACE, "answer place")


class Operations(StrictModel):
    """Each operation the harness knows; ``null`` (or left out) declares it absent."""

    login: Operation | None = None
    refresh: Operation | None = None
    logout: Operation | None = None
    logout_all: Operation | None = None
    blacklist: Operation | None = None
    me: Operation | None = None
    oauth_callback: Operation | None = None
    health: Operation | None = None


class Errors(StrictModel):
    """Where an error answer says what went wrong, and the service's codes for each canonical outcome."""

    code: str = Field("body:error", pattern=ANSWER_PLACE.pattern)
    message: str = Field("body:message", pattern=ANSWER_PLACE.pattern)
    codes: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("codes", mode="before")
    @classmethod
    def _listed(cls, codes: object) -> object:
        if isinstance(codes, dict):
            return {k: v if isinstance(v, list) else [v] for k, v in codes.items()}
        return codes

    @field_validator("codes")
    @classmethod
    def _canonical(cls, codes: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(codes) - set(CANONICAL_ERRORS))
        if unknown:
            raise ValueError(f"unknown outcome {', '.join(unknown)}; known: {', '.join(CANONICAL_ERRORS)}")
        return codes


class User(StrictModel):
    username: str
    password: str


class Users(StrictModel):
    user: User = Field(default_factory=lambda: User(username="alice", password="wonderland"))
    admin: User | None = Field(default_factory=lambda: User(username="admin", password="admin-secret"))


class Claims(StrictModel):
    """The claim names the workload reads (ids for the history) and mints (legacy shapes)."""

    id: str = "tokenId"
    family: str = "family"
    type: str = "type"

    @property
    def names(self) -> tuple[str, str, str]:
        """As ``protocol.ClaimNames``: the service's spelling of tokenId, family and type."""
        return (self.id, self.family, self.type)


class Start(StrictModel):
    """How the harness starts the service: a command run from the contract's folder, with placeholders."""

    command: list[str] = Field(min_length=1, description="argv; {port} {redis_url} {access_secret} ... filled in")
    env: dict[str, str] = Field(default_factory=dict)
    setup: list[str] | None = Field(None, description="run once before the first start when ``creates`` is missing")
    cleanup: list[str] | None = Field(
        None, description="argv of the service's one-shot Redis cleanup (the cleanup fault runs it), with start.env"
    )
    creates: str | None = None


class ServiceContract(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    kind: Literal["reference", "command", "external"] = "command"
    start: Start | None = None
    url: str | None = Field(None, description="where it already runs (kind: external)")
    operations: Operations
    errors: Errors = Field(default_factory=Errors)
    degraded_header: str | None = Field("x-auth-degraded", description="a header present on degraded answers")
    healthy: dict[str, Any] = Field(
        default_factory=dict, description="answer place -> value a healthy health answer has, e.g. body:status: ok"
    )
    users: Users = Field(default_factory=Users)
    claims: Claims = Field(default_factory=Claims)
    bug_switches: dict[str, list[str]] = Field(
        default_factory=dict,
        description="AUTHCHAOS_BUGS switches the service honours -> the checks that name each one's symptom",
    )
    mutants: str | None = Field(
        None, description="a mutant catalogue of this service's code (relative to this file), for prove --mutants"
    )
    source: str | None = Field(None, exclude=True)

    def operation(self, name: str) -> Operation | None:
        op: Operation | None = getattr(self.operations, name)
        return op

    def declared(self) -> list[str]:
        return [n for n in OPERATION_NAMES if self.operation(n) is not None]

    def unmapped(self, settings: list[str]) -> list[str]:
        """The AUTHCHAOS_* settings among ``settings`` this service never receives: the reference service reads
        them all; a started one only those its command or env names as ``{env:AUTHCHAOS_X}``."""
        if self.kind == "reference":
            return []
        text = " ".join([*(self.start.command if self.start else []), *(self.start.env.values() if self.start else [])])
        return [k for k in settings if not re.search(r"\{env:" + re.escape(k) + r"(:-[^}]*)?\}", text)]

    def canonical_error(self, code: Any) -> str | None:
        """The canonical name of a service's error code, or None when the contract declares no such code."""
        if code is None:
            return None
        for canonical, spelled in self.errors.codes.items():
            if str(code) in spelled:
                return canonical
        return None

    @property
    def root(self) -> Path:
        return Path(self.source).parent if self.source else Path.cwd()


def lookup(data: Any, dotted: str) -> Any:
    """``a.b.0.c`` in nested JSON; None where the path does not lead anywhere."""
    for part in dotted.split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def answer_value(place: str, body: Any, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Any:
    where, _, name = place.partition(":")
    if where == "body":
        return lookup(body, name)
    if where == "header":
        return {k.lower(): v for k, v in headers.items()}.get(name.lower())
    return cookies.get(name)


def parse_contract(data: object, source: str) -> ServiceContract:
    if not isinstance(data, dict):
        raise ContractError(f"{source}: a contract must be a mapping (name:, operations:, errors:, ...)")
    try:
        contract = ServiceContract.model_validate(data)
    except ValidationError as exc:
        raise ContractError(validation_message(exc, ServiceContract, source)) from None
    contract.source = source
    return contract


def load_contract(path: Path | None = None) -> ServiceContract:
    """A contract file, or the reference service's own (package data) when ``path`` is None."""
    if path is None:
        path = Path(str(resources.files("authchaos.scenario_files"))) / "contracts" / DEFAULT_FILE
    try:
        text = path.read_text()
    except OSError as exc:
        raise ContractError(f"{path}: cannot read the contract: {exc.strerror}; pass --contract FILE") from None
    return parse_contract(yaml_text(path, text, ContractError), str(path))
