"""One operation through a contract: the request to send, and the answer read back in canonical words.

Both drivers (the scenario client and the locustfile) build requests here and read answers here, so
the history is the same canonical history whichever service ran: a pair as ``access_token`` and
``refresh_token``, an error as a canonical ``error`` code with the service's own ``message``. An answer
that matches nothing the contract declares is kept as it came and named (``undeclared``), for the
conformance check: a run of nothing but 404s is never judged green.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from authchaos.record.protocol import Reading
from authchaos.record.service_contract import Operation, ServiceContract, answer_value


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    follow_redirects: bool = False

    def options(self) -> dict[str, Any]:
        """The request's parts as httpx and Locust take them (``client.request(method, path, **options)``)."""
        out: dict[str, Any] = {"headers": self.headers}
        if self.params:
            out["params"] = self.params
        if self.cookies:
            out["cookies"] = self.cookies
        if self.json is not None:
            out["json"] = self.json
        if self.follow_redirects:
            out["follow_redirects"] = True
        return out


def _set(body: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        body = body.setdefault(part, {})
    body[last] = value


def _fill(value: Any, username: str) -> Any:
    return value.replace("{username}", username) if isinstance(value, str) else value


def _put(request: Request, place: str, value: Any) -> None:
    if place == "bearer":
        request.headers["Authorization"] = f"Bearer {value}"
        return
    where, _, name = place.partition(":")
    if where == "body":
        request.json = request.json if request.json is not None else {}
        _set(request.json, name, value)
    elif where == "query":
        request.params[name] = str(value)
    elif where == "header":
        request.headers[name] = str(value)
    else:
        request.cookies[name] = str(value)


def build_request(spec: Operation, args: Mapping[str, Any], *, username: str = "") -> Request:
    """The HTTP request for one operation: each given argument where the contract puts it, then the constants."""
    request = Request(spec.method, spec.path, follow_redirects=spec.follow_redirects)
    for arg, place in spec.send.items():
        if args.get(arg) is not None:
            _put(request, place, args[arg])
    for place, value in spec.const.items():
        _put(request, place, _fill(value, username or str(args.get("username") or "")))
    return request


@dataclass(frozen=True)
class Answer:
    body: Any  # canonical: pairs as access_token/refresh_token, errors as error/message
    undeclared: str | None = None  # why the answer matched nothing the contract declares


def read_answer(
    contract: ServiceContract,
    spec: Operation,
    status: int,
    body: Any,
    headers: Mapping[str, str],
    cookies: Mapping[str, str] | None = None,
) -> Answer:
    """The answer in canonical words, or as it came with the reason it matched no declared outcome."""
    cookies = cookies or {}
    if 200 <= status < 300:
        if not spec.tokens:
            return Answer(body)
        pair = {f"{kind}_token": answer_value(place, body, headers, cookies) for kind, place in spec.tokens.items()}
        missing = [k for k, v in pair.items() if not isinstance(v, str)]
        canonical = {**(body if isinstance(body, dict) else {}), **pair}
        if missing:
            return Answer(canonical, f"{status} without the declared {', '.join(missing)}")
        return Answer(canonical)
    code = answer_value(contract.errors.code, body, headers, cookies)
    message = answer_value(contract.errors.message, body, headers, cookies)
    canonical_code = contract.canonical_error(code)
    text = message if isinstance(message, str) else None
    if canonical_code is None:
        what = f"error {code!r}" if code is not None else "no declared error code"
        return Answer({"error": code if isinstance(code, str) else None, "message": text}, f"{status} {what}")
    return Answer({"error": canonical_code, "message": text})


def reading(contract: ServiceContract, spec: Operation) -> Reading:
    """How both drivers read one operation's answers: the contract's claim names, degraded header and codes."""

    def read(status: int, body: Any, headers: Mapping[str, str]) -> tuple[Any, str | None]:
        answer = read_answer(contract, spec, status, body, headers)
        return answer.body, answer.undeclared

    return Reading(contract.claims.names, contract.degraded_header, read)
