"""The user directory: demo users by default, or a JSON users file.

File format: ``[{"username": "...", "password_hash": "pbkdf2_sha256$ITER$SALT$HEX", "roles": [...]}]``
(``password`` in clear text is accepted for test fixtures only; ``id`` defaults to the username).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from authchaos_reference.config import ConfigError


@dataclass(frozen=True)
class User:
    id: str
    username: str
    roles: tuple[str, ...]
    password_hash: str

    def record(self) -> dict[str, object]:
        return {"sub": self.id, "username": self.username, "roles": list(self.roles)}

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def hash_password(password: str, iterations: int = 200_000) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()
    return f"pbkdf2_sha256${iterations}${salt}${digest}"


def _cost(stored: str) -> int:
    """PBKDF2 iterations of a stored hash (0 for anything else)."""
    parts = stored.split("$")
    if len(parts) == 4 and parts[0] == "pbkdf2_sha256" and parts[1].isdigit():
        return int(parts[1])
    return 0


def _check(stored: str, password: str) -> bool:
    if stored.startswith("plain$"):
        return hmac.compare_digest(stored[6:].encode(), password.encode())
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations)).hex()
    return hmac.compare_digest(got, digest)


DEMO_USERS = (
    User("alice", "alice", ("user",), "plain$wonderland"),
    User("admin", "admin", ("admin",), "plain$admin-secret"),
)


class UserStore:
    def __init__(self, users: tuple[User, ...] | list[User], hash_threads: int = 2) -> None:
        self._by_name = {u.username: u for u in users}
        self._by_id = {u.id: u for u in users}
        # An unknown name is checked against a hash of the same cost as the real ones, so a wrong
        # password takes as long for a stranger as for a user (no enumeration by timing).
        cost = max((_cost(u.password_hash) for u in users), default=0)
        self._decoy = hash_password(secrets.token_hex(16), cost) if cost else DEMO_USERS[0].password_hash
        self._threads = hash_threads
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def load(cls, path: Path | None, hash_threads: int = 2) -> UserStore:
        if path is None:
            return cls(DEMO_USERS, hash_threads)
        try:
            raw = json.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read AUTHCHAOS_USERS file {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"AUTHCHAOS_USERS file {path} is not JSON (line {exc.lineno}): {exc.msg}") from None
        if not isinstance(raw, list):
            raise ConfigError(f"AUTHCHAOS_USERS file {path} must hold a JSON list of users")
        users = []
        for i, entry in enumerate(raw):
            if not isinstance(entry, dict) or not isinstance(entry.get("username"), str):
                raise ConfigError(f"AUTHCHAOS_USERS file {path}: entry {i} needs a string 'username'")
            if "password_hash" in entry:
                stored = str(entry["password_hash"])
            elif "password" in entry:
                stored = "plain$" + str(entry["password"])
            else:
                raise ConfigError(f"AUTHCHAOS_USERS file {path}: entry {i} needs 'password_hash'")
            roles = entry.get("roles", ["user"])
            if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                raise ConfigError(f"AUTHCHAOS_USERS file {path}: entry {i} 'roles' must be a list of strings")
            users.append(User(str(entry.get("id", entry["username"])), entry["username"], tuple(roles), stored))
        return cls(users, hash_threads)

    async def authenticate(self, username: str, password: str) -> User | None:
        """Check a password on the hashing threads: PBKDF2 on the event loop would stall every route."""
        user = self._by_name.get(username)
        stored = user.password_hash if user else self._decoy
        if self._pool is None:  # made on first use, so a service restarted in one process gets a fresh one
            self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="password-hash")
        ok = await asyncio.get_running_loop().run_in_executor(self._pool, _check, stored, password)
        return user if ok and user is not None else None

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def by_username(self, username: str) -> User | None:
        return self._by_name.get(username)

    def by_id(self, user_id: str) -> User | None:
        return self._by_id.get(user_id)
