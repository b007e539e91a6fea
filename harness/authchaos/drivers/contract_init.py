"""`authchaos contract init`: a commented contract skeleton from a service's OpenAPI document.

The document says the routes, the request fields and (often) the answer shapes; it rarely says how errors are
spelled or which users exist. So the skeleton fills in what the document shows, marks every guess with a
``TODO`` comment, declares what it could not find absent (``null``, the checks that need it then say "not
applicable"), and is itself a valid contract: `contract check --target URL` is the next step.
OpenAPI 3.x and Swagger 2.0, JSON or YAML; local ``$ref``s are followed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from authchaos.record.service_contract import CANONICAL_ERRORS, OPERATION_NAMES, ContractError, parse_contract

# Each operation: the methods it may use and the path words that name it (most telling first).
ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "refresh": (("POST", "PUT"), ("refresh",)),
    "logout_all": (("POST", "DELETE"), ("logout-all", "logout_all", "logoutall", "logout/all", "revoke-all")),
    "logout": (("POST", "DELETE"), ("logout", "signout", "sign-out", "log-out")),
    "blacklist": (("POST",), ("blacklist", "blocklist", "denylist", "revoke", "revocations")),
    "login": (("POST",), ("login", "signin", "sign-in", "log-in", "authenticate", "token")),
    # An authorize route that redirects to the callback makes the whole login (it makes the state), so it wins.
    "oauth_callback": (("GET", "POST"), ("authorize", "callback")),
    "me": (("GET",), ("me", "userinfo", "whoami", "profile", "current")),
    "health": (("GET",), ("healthz", "health", "readyz", "ready", "livez", "ping", "status")),
}
FIELDS: dict[str, tuple[str, ...]] = {
    "username": ("username", "user_name", "userName", "email", "login", "user", "identifier"),
    "password": ("password", "pass", "secret"),
    "refresh": ("refresh_token", "refreshToken", "refresh", "token"),
    "tokens": ("tokens", "token_ids", "tokenIds", "jtis", "ids"),
    "code": ("code",),
}
ANSWERS = {
    "access": ("access_token", "accessToken", "access", "token"),
    "refresh": ("refresh_token", "refreshToken", "refresh"),
}
SENDS = {
    "login": ("username", "password"),
    "refresh": ("refresh",),
    "logout": ("access", "refresh"),
    "logout_all": ("access",),
    "blacklist": ("access", "tokens"),
    "me": ("access",),
    "oauth_callback": ("code",),
    "health": (),
}
EVERYWHERE = ("all", "everywhere", "all_devices", "allDevices", "all_sessions", "allSessions", "global")
ISSUES_TOKENS = ("login", "refresh", "oauth_callback")
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


class OpenApiError(Exception):
    """The document cannot be read as OpenAPI; the message names the source and what is wrong."""


@dataclass
class Endpoint:
    method: str
    path: str
    spec: dict[str, Any]


@dataclass
class Drafted:
    """One operation's declaration, with the notes that become its comments."""

    endpoint: Endpoint
    send: dict[str, str] = field(default_factory=dict)
    const: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    todo: list[str] = field(default_factory=list)
    follow_redirects: bool = False


def read_document(text: str, source: str) -> dict[str, Any]:
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0]
        raise OpenApiError(f"{source}: not JSON or YAML ({first}); pass the service's openapi.json") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise OpenApiError(f"{source}: not an OpenAPI document (no `paths:`); pass the service's openapi.json")
    if "openapi" not in doc and "swagger" not in doc:
        raise OpenApiError(f"{source}: no `openapi:` or `swagger:` version; pass the service's openapi.json")
    return doc


class Resolver:
    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc

    def __call__(self, node: Any, depth: int = 0) -> Any:
        """``node`` with a local ``$ref`` followed (a few levels: recursive schemas stop)."""
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and depth < 8:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                return {}
            node = self.doc
            for part in ref[2:].split("/"):
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, Mapping) else {}
            depth += 1
        return node

    def properties(self, schema: Any, depth: int = 0) -> dict[str, Any]:
        """The object properties of a schema, through ``allOf``/``anyOf``/``oneOf``."""
        schema = self(schema)
        if not isinstance(schema, Mapping) or depth > 4:
            return {}
        props = dict(schema.get("properties") or {})
        for combo in ("allOf", "anyOf", "oneOf"):
            for part in schema.get(combo) or []:
                props.update(self.properties(part, depth + 1))
        return {k: self(v) for k, v in props.items()}


def base_path(doc: Mapping[str, Any]) -> str:
    """What the document's paths hang under: Swagger 2's ``basePath``, or the path of the first server URL."""
    if isinstance(doc.get("basePath"), str):
        return str(doc["basePath"]).rstrip("/")
    servers = doc.get("servers")
    first = servers[0] if isinstance(servers, list) and servers and isinstance(servers[0], Mapping) else {}
    return urlsplit(str(first.get("url") or "")).path.rstrip("/")


def endpoints(doc: Mapping[str, Any]) -> list[Endpoint]:
    out = []
    base = base_path(doc)
    for path, item in doc["paths"].items():
        if not isinstance(item, Mapping) or not str(path).startswith("/"):
            continue
        for method in HTTP_METHODS:
            if isinstance(item.get(method), Mapping):
                spec = dict(item[method])
                spec["parameters"] = [*(item.get("parameters") or []), *(spec.get("parameters") or [])]
                out.append(Endpoint(method.upper(), base + str(path), spec))
    return out


def _words(path: str) -> list[str]:
    return [w for w in re.split(r"[/{}]+", path.lower()) if w]


def _score(role: str, ep: Endpoint) -> int:
    methods, names = ROLES[role]
    if ep.method not in methods:
        return 0
    path = ep.path.lower()
    words = _words(path)
    for rank, name in enumerate(names):
        if ("/" in name and name in path) or name in words or any(w.replace("_", "-") == name for w in words):
            if role == "login" and name == "token" and "refresh" in path:
                return 0
            named = role in str(ep.spec.get("operationId") or "").lower() or name == "authorize"
            return len(names) - rank + (5 if named else 0)
    return 0


def assign(eps: list[Endpoint]) -> dict[str, Endpoint]:
    """Each operation's best endpoint; one endpoint serves one operation (most specific roles choose first)."""
    taken: set[tuple[str, str]] = set()
    chosen: dict[str, Endpoint] = {}
    for role in ROLES:
        scored = [(s, ep) for ep in eps if (ep.method, ep.path) not in taken and (s := _score(role, ep)) > 0]
        if scored:
            best = max(scored, key=lambda se: (se[0], -len(se[1].path)))[1]
            chosen[role] = best
            taken.add((best.method, best.path))
    return chosen


def _pick(names: tuple[str, ...], available: Mapping[str, Any] | list[str]) -> str | None:
    lowered = {n.lower(): n for n in available}
    return next((lowered[n.lower()] for n in names if n.lower() in lowered), None)


class Drafter:
    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.resolve = Resolver(doc)

    def body_media(self, ep: Endpoint) -> str | None:
        body = self.resolve(ep.spec.get("requestBody"))
        content = body.get("content") if isinstance(body, Mapping) else None
        if not isinstance(content, Mapping) or not content:
            return None
        return "application/json" if "application/json" in content else str(next(iter(content)))

    def body_fields(self, ep: Endpoint) -> dict[str, Any]:
        body = self.resolve(ep.spec.get("requestBody"))
        if isinstance(body, Mapping):
            content: dict[str, Any] = body.get("content") or {}
            media: Any = content.get("application/json") or next(iter(content.values()), {})
            return self.resolve.properties((media or {}).get("schema"))
        for param in ep.spec["parameters"]:  # Swagger 2.0: one `in: body` parameter
            param = self.resolve(param)
            if isinstance(param, Mapping) and param.get("in") == "body":
                return self.resolve.properties(param.get("schema"))
        return {}

    def parameters(self, ep: Endpoint) -> dict[str, str]:
        """name -> where (query, header, cookie)."""
        out = {}
        for param in ep.spec["parameters"]:
            param = self.resolve(param)
            if isinstance(param, Mapping) and param.get("in") in ("query", "header", "cookie"):
                out[str(param.get("name"))] = str(param["in"])
        return out

    def bearer(self, ep: Endpoint) -> bool:
        """Whether the endpoint takes an ``Authorization: Bearer`` token (security scheme or header parameter)."""
        if any(n.lower() == "authorization" and w == "header" for n, w in self.parameters(ep).items()):
            return True
        security = ep.spec.get("security", self.doc.get("security")) or []
        components = self.doc.get("components") or {}
        schemes = dict(components.get("securitySchemes") or {}) if isinstance(components, Mapping) else {}
        schemes.update(self.doc.get("securityDefinitions") or {})
        for requirement in security:
            for name in requirement if isinstance(requirement, Mapping) else []:
                scheme = self.resolve(schemes.get(name, {}))
                kind = str(scheme.get("scheme", scheme.get("type", ""))).lower() if isinstance(scheme, Mapping) else ""
                if kind in ("bearer", "oauth2", "openidconnect", "http") or (
                    isinstance(scheme, Mapping) and str(scheme.get("name", "")).lower() == "authorization"
                ):
                    return True
        return False

    def everywhere_flag(self, ep: Endpoint) -> str | None:
        """A logout body's "all sessions" flag (``{"all": true}``), when the document shows one."""
        return _pick(EVERYWHERE, self.body_fields(ep))

    def _token_places(self, ep: Endpoint) -> dict[str, str]:
        responses = ep.spec.get("responses") or {}
        ok = next((responses[c] for c in ("200", "201", 200, 201) if c in responses), None)
        ok = self.resolve(ok)
        if not isinstance(ok, Mapping):
            return {}
        content = ok.get("content") or {}
        media = (content.get("application/json") or next(iter(content.values()), {})) if content else ok
        found: dict[str, str] = {}
        for path, name in self._walk(self.resolve.properties((media or {}).get("schema")), ""):
            for kind, names in ANSWERS.items():
                if kind not in found and name.lower() in {n.lower() for n in names}:
                    if kind == "access" and name.lower() == "token" and "refresh" in found:
                        continue
                    found[kind] = f"body:{path}"
        return found

    def _walk(self, props: Mapping[str, Any], prefix: str, depth: int = 0) -> Iterator[tuple[str, str]]:
        for name, schema in props.items():
            yield prefix + name, name
            if depth < 3:
                yield from self._walk(self.resolve.properties(schema), f"{prefix}{name}.", depth + 1)

    def _place(self, d: Drafted, role: str, arg: str, ep: Endpoint) -> None:
        """Where one argument goes: a body field, a parameter, the bearer header, or a guess marked TODO."""
        fields, params = self.body_fields(ep), self.parameters(ep)
        if arg == "access":
            d.send["access"] = "bearer"
            if not self.bearer(ep):
                d.todo.append("the document shows no bearer security here: say how the access token is sent")
        elif (name := _pick(FIELDS[arg], fields)) is not None:
            d.send[arg] = f"body:{name}"
        elif (name := _pick(FIELDS[arg], list(params))) is not None:
            d.send[arg] = f"{params[name]}:{name}"
        elif arg == "refresh" and role == "refresh" and self.bearer(ep):
            d.send[arg] = "bearer"  # flask-jwt-extended style: the refresh token in the Authorization header
        elif arg == "refresh" and role == "logout":
            d.todo.append("the document shows no refresh token field: logout sends the access token only")
        else:
            guess = FIELDS[arg][0] if arg != "refresh" else "refresh_token"
            d.send[arg] = f"body:{guess}"
            d.todo.append(f"no field for the {arg} found in the document: body:{guess} is a guess")

    @staticmethod
    def _authorize(d: Drafted, params: Mapping[str, str]) -> None:
        """An authorize route makes the whole login when followed: it redirects to the callback with a state."""
        d.follow_redirects = True
        if "login_hint" in params:
            d.const[f"{params['login_hint']}:login_hint"] = "{username}"
        d.todo.append("the authorize route must redirect (3xx) to the callback for a test provider")

    def draft(self, role: str, ep: Endpoint) -> Drafted:
        d = Drafted(ep)
        if "{" in ep.path:
            d.todo.append(
                "the path has a template ({...}): write the value a test user has, the harness sends it as is"
            )
        if self.body_media(ep) not in (None, "application/json"):
            d.todo.append(f"the body is {self.body_media(ep)}: the harness sends JSON, so the service must take it too")
        authorize = role == "oauth_callback" and "authorize" in ep.path.lower()
        for arg in () if authorize else SENDS[role]:
            self._place(d, role, arg, ep)
        params = self.parameters(ep)
        if authorize:
            self._authorize(d, params)
        if role == "logout_all" and (flag := self.everywhere_flag(ep)):
            d.const[f"body:{flag}"] = True
        if role == "oauth_callback" and "provider" in params:
            d.const[f"{params['provider']}:provider"] = "TODO-provider"
            d.todo.append("a provider your service accepts in tests, and a code that logs in {username}")
        if role in ISSUES_TOKENS:
            d.tokens = self._token_places(ep)
            for kind in ("access", "refresh"):
                if kind not in d.tokens:
                    guess = f"body:{ANSWERS[kind][0]}"
                    d.tokens[kind] = guess
                    d.todo.append(f"the answer's schema does not show the {kind} token: {guess} is a guess")
        return d


def _yaml(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def _flow(mapping: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{json.dumps(k)}: {_yaml(v)}" for k, v in mapping.items()) + "}"


def render(doc: Mapping[str, Any], source: str, url: str, name: str) -> str:
    drafter = Drafter(doc)
    chosen = assign(endpoints(doc))
    if "logout_all" not in chosen and "logout" in chosen and drafter.everywhere_flag(chosen["logout"]):
        chosen["logout_all"] = chosen["logout"]  # one route, a flag in the body
    title = str((doc.get("info") or {}).get("title") or name)
    lines = [
        f"# A contract drafted by `authchaos contract init` from {source}.",
        "# Check each TODO, then try it against the running service:",
        f"#   authchaos contract check --target {url} --contract THIS_FILE",
        f"name: {json.dumps(name)}",
        f"description: {json.dumps(title)}",
        "# kind external: already running at url. For the harness to start it (gate, prove, the pytest",
        "# fixture), use kind: command and a start: block instead of url:",
        "kind: external",
        f"url: {json.dumps(url)}",
        "# start:                    # a command, run from this file's folder, with {port} {redis_url} ... filled in",
        '#   command: [your-server, --port, "{port}"]',
        '#   env: {REDIS_URL: "{redis_url}"}',
        "operations:",
    ]
    for role in OPERATION_NAMES:
        ep = chosen.get(role)
        if ep is None:
            lines.append(f"  {role}: null    # not found in the document: declare it, or keep it absent")
            continue
        d = drafter.draft(role, ep)
        op_id = str(ep.spec.get("operationId") or "")
        lines.append(f"  {role}:    # from {ep.method} {ep.path}" + (f" ({op_id})" if op_id else ""))
        if ep.method != "POST":
            lines.append(f"    method: {ep.method}")
        lines.append(f"    path: {json.dumps(ep.path)}")
        if d.follow_redirects:
            lines.append("    follow_redirects: true")
        for key, value in (("send", d.send), ("const", d.const), ("tokens", d.tokens)):
            if value:
                lines.append(f"    {key}: {_flow(value)}")
        lines.extend(f"    # TODO: {note}" for note in d.todo)
    lines += [
        "errors:                     # TODO: where an error answer names its code, and your codes for each outcome",
        '  code: "body:error"',
        '  message: "body:message"',
        "  codes:                    # the outcome the checkers read: how your service spells it",
        *(f"    {name}: {name}" for name in CANONICAL_ERRORS),
        "users:                      # TODO: a test user and an admin (for the blacklist) that exist in the service",
        "  user: {username: alice, password: wonderland}",
        "  admin: {username: admin, password: admin-secret}",
        "claims: {id: jti, family: family, type: type}   # TODO: your token's claim names",
    ]
    return "\n".join(lines) + "\n"


def _server_url(doc: Mapping[str, Any]) -> str:
    """The document's first absolute server URL, else a loopback guess."""
    servers = doc.get("servers")
    first = servers[0].get("url") if isinstance(servers, list) and servers and isinstance(servers[0], Mapping) else ""
    return str(first).rstrip("/") if str(first).startswith("http") else "http://127.0.0.1:8000"


def _slug(name: str | None, doc: Mapping[str, Any]) -> str:
    """A contract name: the one given, or the document's title, made a valid name."""
    info = doc.get("info")
    title = info.get("title") if isinstance(info, Mapping) else None
    return re.sub(r"[^a-z0-9_.-]+", "-", str(name or title or "my-service").lower()).strip("-.") or "my-service"


def draft_contract(
    text: str, source: str, *, url: str | None = None, name: str | None = None
) -> tuple[str, list[str], str]:
    """The skeleton's text (validated as a contract), the operations it declares and the service URL it names
    (``url``, else the document's server URL); the document is read once."""
    doc = read_document(text, source)
    url = (url or "").rstrip("/") or _server_url(doc)
    out = render(doc, source, url, _slug(name, doc))
    try:
        contract = parse_contract(yaml.safe_load(out), "the drafted contract")
    except ContractError as exc:  # a path or field name the contract grammar cannot carry
        raise OpenApiError(f"{source}: cannot draft a valid contract from it: {exc}") from None
    return out, contract.declared(), url
