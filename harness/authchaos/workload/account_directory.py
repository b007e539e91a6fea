"""The reference service's user directory, owned by the harness for one run (``service.accounts``).

Why: removal, disabling and demotion are changes of the directory, not requests; to witness that a service
applies them, the harness must make them. It writes the users file the service reads (``AUTHCHAOS_USERS``):
the contract's user and admin as they are, plus for each client its own members (role user) and staff (role
admin) that ``retire_account`` removes, disables or demotes. Every change replaces the file whole (a new inode:
each process sees it at its next reload), so no process ever reads half a file.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from authchaos.record.service_contract import ServiceContract

Change = str  # "remove", "disable" or "demote"


@dataclass
class Account:
    username: str
    password: str
    roles: list[str]
    disabled: bool = False

    def entry(self) -> dict[str, object]:
        return {"username": self.username, "password": self.password, "roles": self.roles, "disabled": self.disabled}


@dataclass
class AccountDirectory:
    """``path``: the users file; ``accounts`` by username, in file order; ``unused`` per client: (member, staff)."""

    path: Path
    accounts: dict[str, Account]
    unused: dict[int, list[tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def create(cls, contract: ServiceContract, clients: int, per_client: int) -> AccountDirectory:
        base = [Account(contract.users.user.username, contract.users.user.password, ["user"])]
        if contract.users.admin is not None:
            base.append(Account(contract.users.admin.username, contract.users.admin.password, ["admin"]))
        accounts = {a.username: a for a in base}
        unused: dict[int, list[tuple[str, str]]] = {}
        for cid in range(clients):
            for i in range(per_client):
                member = Account(f"member-{cid}-{i}", secrets.token_urlsafe(12), ["user"])
                staff = Account(f"staff-{cid}-{i}", secrets.token_urlsafe(12), ["admin"])
                accounts[member.username], accounts[staff.username] = member, staff
                unused.setdefault(cid, []).append((member.username, staff.username))
        directory = cls(Path(tempfile.mkdtemp(prefix="authchaos-users-")) / "users.json", accounts, unused)
        try:
            directory._write()
        except BaseException:
            directory.remove_file()
            raise
        return directory

    def take(self, cid: int) -> tuple[Account, Account] | None:
        """This client's next unchanged member and staff account (None when it has used them all)."""
        left = self.unused.get(cid)
        if not left:
            return None
        member, staff = left.pop(0)
        return self.accounts[member], self.accounts[staff]

    def change(self, username: str, how: Change) -> None:
        account = self.accounts[username]
        if how == "remove":
            del self.accounts[username]
        elif how == "disable":
            account.disabled = True
        elif how == "demote":
            account.roles = [r for r in account.roles if r != "admin"] or ["user"]
        else:
            raise ValueError(f"unknown directory change {how!r} (remove, disable or demote)")
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([a.entry() for a in self.accounts.values()], indent=1))
        os.replace(tmp, self.path)  # a new inode, whole: a reload never reads half a file

    def env(self) -> dict[str, str]:
        return {"AUTHCHAOS_USERS": str(self.path)}

    def remove_file(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)
