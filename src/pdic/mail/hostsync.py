#!/usr/bin/python3
"""pdic-mail-sync: the mailboxes of one mail host, brought in line with the inventory.

Installed by the mail role as ``/usr/local/sbin/pdic-mail-sync`` and run by Debian's python3
(standard library only). The inventory's list for this host (address, quota, state) comes on
standard input as JSON; the host's current list is Dovecot's passwd-file, which holds a
password hash, a quota rule and ``nologin`` for a disabled mailbox on each line. Two files
derive from it: Postfix's map of the addresses it accepts and Dovecot's list of denied logins
(the disabled mailboxes: a ``deny`` passdb, so that IMAP, POP3 and SMTP AUTH all refuse them).

Commands (every one prints JSON on standard output; bad input exits 2 with one line on stderr):

``list``
    The current mailboxes, without their hashes (what ``pdic mail diff`` reads).
``plan``
    What ``apply`` would change: addresses to add, remove, disable, enable, requota, and the
    derived files that do not match the passwd-file (``stale``: missing, edited, not indexed).
``apply [--dry-run]``
    Makes exactly those changes. Input: ``{"mailboxes": [[address, quota, state], ...],
    "hashes": {address: hash}}`` with a hash for every address to add (existing mailboxes keep
    the hash they have: a password changed on the host stays). The passwd-file, the Postfix map
    and the denied list are replaced whole and atomically (``postmap`` when the map changed); a
    new mailbox gets
    its Maildir; a removed one's home is moved under the archive directory, never deleted;
    disabled and removed users' sessions are ended (``doveadm kick``).
``dkim [--dry-run] --selector S --bits N DOMAIN...``
    Generates a DKIM key (``opendkim-genkey``) for every domain that has none; an existing key
    is never replaced.
``postmap [--dry-run] MAP... [--aliases FILE]``
    Rebuilds each map (``postmap``) and the aliases file (``postalias``) whose ``.db`` is
    missing or older than its source.
``set-hash ADDRESS``
    Replaces one mailbox's password hash with the one on standard input.

Paths come from the JSON configuration the role writes (``--config``, default
``/etc/pdic/mail/sync.json``; keys as in :data:`DEFAULTS`). The planning is a pure function
(:func:`plan`), also used by ``pdic mail diff`` on the controller.

It never deletes a mailbox's mail, never prints a hash, and does not touch aliases or domains
(the role renders those).
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, str] = {
    "users_file": "/etc/dovecot/pdic/users",
    "users_group": "dovecot",
    "denied_file": "/etc/dovecot/pdic/denied",
    "mailbox_map": "/etc/postfix/pdic/mailboxes",
    "map_type": "hash",
    "home_root": "/var/vmail",
    "archive_dir": "/var/vmail-archive",
    "vmail_user": "vmail",
    "dkim_dir": "/etc/dkimkeys",
    "dkim_user": "opendkim",
    "lock_file": "/run/pdic-mail-sync.lock",
    "postmap": "/usr/sbin/postmap",
    "postalias": "/usr/sbin/postalias",
    "doveadm": "/usr/bin/doveadm",
    "opendkim_genkey": "/usr/sbin/opendkim-genkey",
}
STATES = ("active", "disabled")
QUOTA_FIELD = "userdb_quota_rule=*:storage="
NOLOGIN = "nologin"


class SyncError(Exception):
    """Bad input or a step that failed; one line for the operator."""


@dataclass(frozen=True)
class Mailbox:
    """One mailbox as the host keeps it (``password`` is its hash; empty when not known)."""

    address: str
    quota: str
    state: str = "active"
    password: str = field(default="", repr=False)

    @property
    def local(self) -> str:
        return self.address.split("@", 1)[0]

    @property
    def domain(self) -> str:
        return self.address.split("@", 1)[1]


@dataclass(frozen=True)
class Plan:
    """What differs between the inventory's list and the host's, each list sorted."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    enable: tuple[str, ...] = ()
    quota: tuple[tuple[str, str, str], ...] = ()  # address, from, to

    @property
    def touched(self) -> tuple[str, ...]:
        """Every address a change touches, once, sorted."""
        names = {*self.add, *self.remove, *self.disable, *self.enable, *(q[0] for q in self.quota)}
        return tuple(sorted(names))

    def as_json(self) -> dict[str, Any]:
        return {
            "add": list(self.add),
            "remove": list(self.remove),
            "disable": list(self.disable),
            "enable": list(self.enable),
            "quota": [list(q) for q in self.quota],
            "changes": len(self.touched),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            add=tuple(data.get("add", ())),
            remove=tuple(data.get("remove", ())),
            disable=tuple(data.get("disable", ())),
            enable=tuple(data.get("enable", ())),
            quota=tuple((str(a), str(b), str(c)) for a, b, c in data.get("quota", ())),
        )


# -- the passwd-file and the desired list --------------------------------------------------


def parse_users(text: str) -> dict[str, Mailbox]:
    """The mailboxes of a passwd-file this tool wrote (``address:hash::::::extra fields``)."""
    out: dict[str, Mailbox] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(":", 7)
        if len(parts) != 8 or not parts[0]:
            raise SyncError(f"users file line {number}: not a passwd-file line")
        quota, state = "", "active"
        for extra in parts[7].split():
            if extra.startswith(QUOTA_FIELD):
                quota = extra.removeprefix(QUOTA_FIELD)
            elif extra == NOLOGIN:
                state = "disabled"
        out[parts[0]] = Mailbox(parts[0], quota, state, parts[1])
    return out


def format_users(mailboxes: Iterable[Mailbox]) -> str:
    """The passwd-file for ``mailboxes`` (sorted by address)."""
    lines = ["# Written by pdic-mail-sync from the inventory; edits are overwritten."]
    for box in sorted(mailboxes, key=lambda b: b.address):
        extra = QUOTA_FIELD + box.quota + (" " + NOLOGIN if box.state == "disabled" else "")
        lines.append(f"{box.address}:{box.password}::::::{extra}")
    return "\n".join(lines) + "\n"


def format_map(mailboxes: Iterable[Mailbox]) -> str:
    """Postfix's map of accepted addresses; each is also its own login (sender login map)."""
    lines = ["# Written by pdic-mail-sync from the inventory; edits are overwritten."]
    lines += [f"{a} {a}" for a in sorted(b.address for b in mailboxes)]
    return "\n".join(lines) + "\n"


def format_denied(mailboxes: Iterable[Mailbox]) -> str:
    """Dovecot's denied logins (a passwd-file of names only): the disabled mailboxes."""
    lines = ["# Written by pdic-mail-sync: the disabled mailboxes, refused at every login."]
    lines += sorted(b.address for b in mailboxes if b.state == "disabled")
    return "\n".join(lines) + "\n"


def format_list(mailboxes: Iterable[Mailbox]) -> str:
    """``list``'s output: one ``address<TAB>quota<TAB>state`` line per mailbox, no hash."""
    return "".join(
        f"{b.address}\t{b.quota}\t{b.state}\n" for b in sorted(mailboxes, key=lambda b: b.address)
    )


def parse_list(text: str) -> dict[str, Mailbox]:
    """What :func:`format_list` printed."""
    out: dict[str, Mailbox] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or fields[2] not in STATES:
            raise SyncError(f"list line {number}: not 'address<TAB>quota<TAB>state'")
        out[fields[0]] = Mailbox(fields[0], fields[1], fields[2])
    return out


def desired_from_json(rows: Any) -> dict[str, Mailbox]:
    """The inventory's list: ``[[address, quota, state], ...]``, each address once."""
    if not isinstance(rows, list):
        raise SyncError("mailboxes: expected a list of [address, quota, state]")
    out: dict[str, Mailbox] = {}
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == 3 and all(isinstance(x, str) for x in row)):
            raise SyncError(f"mailboxes[{i}]: expected [address, quota, state]")
        address, quota, state = row
        if address.count("@") != 1 or ":" in address or any(c.isspace() for c in address):
            raise SyncError(f"mailboxes[{i}]: {address!r} is not a mail address")
        if not quota or any(c.isspace() or c == ":" for c in quota):
            raise SyncError(f"mailboxes[{i}]: {quota!r} is not a quota")
        if state not in STATES:
            raise SyncError(f"mailboxes[{i}]: {state!r} is not one of {', '.join(STATES)}")
        if address in out:
            raise SyncError(f"mailboxes[{i}]: {address} is listed twice")
        out[address] = Mailbox(address, quota, state)
    return out


def plan(desired: Mapping[str, Mailbox], current: Mapping[str, Mailbox]) -> Plan:
    """What must change on the host so that its mailboxes are ``desired``."""
    add = sorted(set(desired) - set(current))
    remove = sorted(set(current) - set(desired))
    kept = sorted(set(desired) & set(current))
    disable = [a for a in kept if desired[a].state == "disabled" != current[a].state]
    enable = [a for a in kept if desired[a].state == "active" != current[a].state]
    quota = [(a, current[a].quota, desired[a].quota) for a in kept]
    return Plan(
        add=tuple(add),
        remove=tuple(remove),
        disable=tuple(disable),
        enable=tuple(enable),
        quota=tuple(q for q in quota if q[1] != q[2]),
    )


def merged(
    desired: Mapping[str, Mailbox], current: Mapping[str, Mailbox], hashes: Mapping[str, str]
) -> list[Mailbox]:
    """The host's new list: desired quota and state, the current hash or the one given."""
    missing = sorted(a for a in desired if a not in current and not hashes.get(a))
    if missing:
        raise SyncError(f"no password hash for new mailbox(es): {', '.join(missing)}")
    for address, value in hashes.items():
        check_hash(address, value)
    out = []
    for address, box in desired.items():
        password = current[address].password if address in current else hashes[address]
        out.append(Mailbox(address, box.quota, box.state, password))
    return out


def check_hash(address: str, value: str) -> None:
    """A ``{SCHEME}hash`` as Dovecot reads it from a passwd-file (no ``:``, no blanks)."""
    if not value.startswith("{") or "}" not in value or ":" in value or value != value.strip():
        raise SyncError(f"the hash given for {address} is not a {{SCHEME}}hash")
    if any(c.isspace() for c in value):
        raise SyncError(f"the hash given for {address} is not a {{SCHEME}}hash")


# -- the host --------------------------------------------------------------------------------


class Host:
    """File and command operations of one mail host, from the configuration's paths."""

    def __init__(self, config: Mapping[str, str]) -> None:
        self.config = {**DEFAULTS, **config}

    def path(self, key: str) -> Path:
        return Path(self.config[key])

    def read_users(self) -> dict[str, Mailbox]:
        users = self.path("users_file")
        return parse_users(users.read_text(encoding="utf-8")) if users.exists() else {}

    def home(self, box: Mailbox) -> Path:
        return self.path("home_root") / box.domain / box.local

    def write(self, path: Path, content: str, mode: int, group: str | None = None) -> bool:
        """Replace ``path`` atomically with ``content``; False when it already holds it."""
        if path.exists() and path.read_text(encoding="utf-8") == content:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(content)
            os.chmod(tmp, mode)
            if group is not None:
                os.chown(tmp, -1, grp.getgrnam(group).gr_gid)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def run(self, argv: Sequence[str]) -> None:
        proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise SyncError(f"{argv[0]}: {detail[-1] if detail else proc.returncode}")

    def postmap(self, source: Path) -> None:
        self.run([self.config["postmap"], f"{self.config['map_type']}:{source}"])

    def stale(self, boxes: Iterable[Mailbox]) -> list[str]:
        """The files derived from the passwd-file that do not match it (or are not indexed)."""
        boxes = list(boxes)
        out = []
        for key, content in (
            ("mailbox_map", format_map(boxes)),
            ("denied_file", format_denied(boxes)),
        ):
            path = self.path(key)
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                out.append(str(path))
            elif key == "mailbox_map" and self.map_is_stale(path):
                out.append(str(path) + ".db")
        return out

    def map_is_stale(self, source: Path) -> bool:
        db = source.with_name(source.name + ".db")
        return not db.exists() or db.stat().st_mtime < source.stat().st_mtime

    def make_maildir(self, box: Mailbox) -> bool:
        """The mailbox's home and empty Maildir, owned by the vmail user; False if there."""
        home = self.home(box)
        if home.exists():
            return False
        user = pwd.getpwnam(self.config["vmail_user"])
        for directory in (home.parent, home, home / "Maildir"):
            if not directory.exists():
                directory.mkdir(mode=0o700)
                os.chown(directory, user.pw_uid, user.pw_gid)
        for sub in ("cur", "new", "tmp"):
            (home / "Maildir" / sub).mkdir(mode=0o700)
            os.chown(home / "Maildir" / sub, user.pw_uid, user.pw_gid)
        return True

    def archive(self, box: Mailbox, stamp: str) -> str:
        """Move the home of a removed mailbox under the archive directory; its new path."""
        home = self.home(box)
        if not home.exists():
            return ""
        target = self.path("archive_dir") / box.domain / f"{box.local}-{stamp}"
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.move(str(home), str(target))
        return str(target)

    def kick(self, addresses: Iterable[str]) -> None:
        """End the sessions of these users (best effort: Dovecot may be down)."""
        for address in addresses:
            subprocess.run(
                [self.config["doveadm"], "kick", address], capture_output=True, check=False
            )

    def lock(self) -> Any:
        path = self.path("lock_file")
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("w")
        fcntl.flock(fh, fcntl.LOCK_EX)
        return fh


def apply(host: Host, data: Mapping[str, Any], dry_run: bool, now: dt.datetime) -> dict[str, Any]:
    """Bring the host's mailboxes in line with ``data``; what was (or would be) done."""
    desired = desired_from_json(data.get("mailboxes"))
    hashes = data.get("hashes") or {}
    if not isinstance(hashes, dict):
        raise SyncError("hashes: expected a mapping of address to hash")
    current = host.read_users()
    todo = plan(desired, current)
    stale = host.stale(current.values())
    result = todo.as_json() | {"stale": stale, "archived": {}, "created": [], "map_rebuilt": False}
    if dry_run or not (todo.touched or stale):
        return result
    boxes = list(current.values())
    if todo.touched:
        boxes = merged(desired, current, {a: str(hashes.get(a, "")) for a in todo.add})
        host.write(host.path("users_file"), format_users(boxes), 0o640, host.config["users_group"])
    denied = format_denied(boxes)
    host.write(host.path("denied_file"), denied, 0o640, host.config["users_group"])
    mailbox_map = host.path("mailbox_map")
    if host.write(mailbox_map, format_map(boxes), 0o644) or host.map_is_stale(mailbox_map):
        host.postmap(mailbox_map)
        result["map_rebuilt"] = True
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    for address in todo.remove:
        result["archived"][address] = host.archive(current[address], stamp)
    for address in todo.add:
        if host.make_maildir(desired[address]):
            result["created"].append(address)
    host.kick([*todo.disable, *todo.remove])
    return result


def dkim(
    host: Host, selector: str, bits: int, domains: Sequence[str], dry_run: bool
) -> dict[str, Any]:
    """A DKIM key for each domain that has none under the key directory."""
    created, present = [], []
    user = host.config["dkim_user"]
    for domain in domains:
        if not domain or "/" in domain or domain.startswith("."):
            raise SyncError(f"{domain!r} is not a domain")
        directory = host.path("dkim_dir") / domain
        if (directory / f"{selector}.private").exists():
            present.append(domain)
            continue
        created.append(domain)
        if dry_run:
            continue
        directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        host.run(
            [
                host.config["opendkim_genkey"],
                "-b",
                str(bits),
                "-d",
                domain,
                "-s",
                selector,
                "-D",
                str(directory),
            ]
        )
        owner = pwd.getpwnam(user)
        for path in (directory, directory / f"{selector}.private", directory / f"{selector}.txt"):
            if path.exists():
                os.chown(path, owner.pw_uid, owner.pw_gid)
        os.chmod(directory / f"{selector}.private", 0o600)
    return {"created": created, "present": present}


def rebuild_maps(
    host: Host, maps: Sequence[str], aliases: Sequence[str], dry_run: bool
) -> dict[str, Any]:
    """Rebuild the maps and alias files whose index is missing or stale; which were."""
    rebuilt = [m for m in [*maps, *aliases] if host.map_is_stale(Path(m))]
    if not dry_run:
        for name in rebuilt:
            if name in aliases:
                host.run([host.config["postalias"], f"{host.config['map_type']}:{name}"])
            else:
                host.postmap(Path(name))
    return {"rebuilt": rebuilt}


def set_hash(host: Host, address: str, value: str) -> dict[str, Any]:
    current = host.read_users()
    if address not in current:
        raise SyncError(f"{address}: no such mailbox on this host")
    value = value.strip()
    check_hash(address, value)
    boxes = [
        Mailbox(b.address, b.quota, b.state, value if a == address else b.password)
        for a, b in current.items()
    ]
    host.write(host.path("users_file"), format_users(boxes), 0o640, host.config["users_group"])
    return {"changed": [address]}


# -- command line ----------------------------------------------------------------------------


def _read_config(path: str) -> dict[str, str]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SyncError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise SyncError(f"{path}: expected a JSON object")
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise SyncError(f"{path}: unknown key(s) {', '.join(unknown)}")
    return {k: str(v) for k, v in data.items()}


def _stdin_json() -> Any:
    try:
        return json.loads(sys.stdin.read() or "{}")
    except ValueError as exc:
        raise SyncError(f"standard input is not JSON: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pdic-mail-sync", description=__doc__.split("\n")[1])
    parser.add_argument("--config", default="/etc/pdic/mail/sync.json")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list")
    commands.add_parser("plan")
    command = commands.add_parser("apply")
    command.add_argument("--dry-run", action="store_true")
    command = commands.add_parser("dkim")
    command.add_argument("--dry-run", action="store_true")
    command.add_argument("--selector", required=True)
    command.add_argument("--bits", type=int, default=2048)
    command.add_argument("domains", nargs="*")
    command = commands.add_parser("postmap")
    command.add_argument("--dry-run", action="store_true")
    command.add_argument("--aliases", action="append", default=[])
    command.add_argument("maps", nargs="*")
    command = commands.add_parser("set-hash")
    command.add_argument("address")
    args = parser.parse_args(argv)
    try:
        host = Host(_read_config(args.config))
        if args.command == "list":
            sys.stdout.write(format_list(host.read_users().values()))
            return 0
        if args.command == "plan":
            data = _stdin_json()
            desired = desired_from_json(data.get("mailboxes"))
            current = host.read_users()
            out: dict[str, Any] = plan(desired, current).as_json()
            out["stale"] = host.stale(current.values())
        elif args.command == "apply":
            with host.lock():
                out = apply(host, _stdin_json(), args.dry_run, dt.datetime.now(dt.UTC))
        elif args.command == "dkim":
            out = dkim(host, args.selector, args.bits, args.domains, args.dry_run)
        elif args.command == "postmap":
            out = rebuild_maps(host, args.maps, args.aliases, args.dry_run)
        else:
            with host.lock():
                out = set_hash(host, args.address, sys.stdin.read())
    except (SyncError, OSError, KeyError) as exc:
        print(f"pdic-mail-sync: {exc}", file=sys.stderr)
        return 2
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
