"""pdic-mail-sync (pdic.mail.hostsync): plans from recorded lists, and the helper run as the
mail role installs it (Debian's python3, standard library only) on a scratch tree standing in
for a mail host: postmap, doveadm and opendkim-genkey are small scripts here, the vmail and
dovecot accounts are the test's own.

The case the design insists on: after 6,000 mailboxes, a change of 10 (added, removed,
disabled, enabled, requota'd) touches exactly those 10 lines of the passwd-file, creates or
archives exactly their Maildirs and leaves every other mailbox as it was.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pdic.mail import hostsync
from pdic.mail.hostsync import Mailbox, Plan, SyncError

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "src" / "pdic" / "mail" / "hostsync.py"
FIXTURES = REPO / "tests" / "unit" / "fixtures" / "mail"
HASH = "{SHA512-CRYPT}$6$abcdefgh$" + "x" * 86


def rows(*boxes: tuple[str, str, str]) -> list[list[str]]:
    return [list(b) for b in boxes]


def test_users_file_round_trip() -> None:
    boxes = [
        Mailbox("b@example.gov.vn", "2G", "disabled", HASH),
        Mailbox("a@example.gov.vn", "500M", "active", HASH),
    ]
    text = hostsync.format_users(boxes)
    assert text.splitlines()[1:] == [
        f"a@example.gov.vn:{HASH}::::::userdb_quota_rule=*:storage=500M",
        f"b@example.gov.vn:{HASH}::::::userdb_quota_rule=*:storage=2G nologin",
    ]
    assert hostsync.parse_users(text) == {b.address: b for b in boxes}
    assert hostsync.format_map(boxes).splitlines()[1:] == [
        "a@example.gov.vn a@example.gov.vn",
        "b@example.gov.vn b@example.gov.vn",
    ]


def test_list_never_shows_a_hash() -> None:
    text = hostsync.format_list([Mailbox("a@example.gov.vn", "1G", "active", HASH)])
    assert text == "a@example.gov.vn\t1G\tactive\n"
    assert hostsync.parse_list(text)["a@example.gov.vn"].password == ""


def test_plan_from_the_recorded_list() -> None:
    current = hostsync.parse_list((FIXTURES / "mail-1.list").read_text())
    desired = hostsync.desired_from_json(json.loads((FIXTURES / "mail-1.desired.json").read_text()))
    result = hostsync.plan(desired, current)
    assert result.as_json() == json.loads((FIXTURES / "mail-1.plan.json").read_text())
    assert hostsync.plan(desired, desired) == Plan()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mailboxes": "x"}, "expected a list"),
        ({"mailboxes": [["a@b.vn", "1G"]]}, r"mailboxes\[0\]: expected \[address, quota, state\]"),
        ({"mailboxes": [["a:b@b.vn", "1G", "active"]]}, "is not a mail address"),
        ({"mailboxes": [["a@b.vn", "1 G", "active"]]}, "is not a quota"),
        ({"mailboxes": [["a@b.vn", "1G", "gone"]]}, "'gone' is not one of active, disabled"),
        ({"mailboxes": [["a@b.vn", "1G", "active"]] * 2}, r"mailboxes\[1\]: a@b.vn is listed"),
    ],
)
def test_bad_desired_lists_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(SyncError, match=message):
        hostsync.desired_from_json(data["mailboxes"])


# -- the helper on a scratch host ----------------------------------------------------------


def _me() -> tuple[str, str]:
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Path]:
    """A scratch mail host: its configuration file, tools and directories under tmp_path
    (the thousands of Maildirs are removed afterwards, not left for pytest to remove)."""
    user, group = _me()
    tools = tmp_path / "bin"
    tools.mkdir()
    for name, body in {
        "postmap": 'f=${1#*:}; cp "$f" "$f.db"; echo "$@" >> "$(dirname "$0")/postmap.log"',
        "doveadm": 'echo "$@" >> "$(dirname "$0")/doveadm.log"',
        "opendkim-genkey": (
            "while [ $# -gt 0 ]; do case $1 in -s) s=$2;; -D) d=$2;; -d) n=$2;; esac; shift; done;"
            ' echo "key of $n" > "$d/$s.private"; echo "txt of $n" > "$d/$s.txt"'
        ),
    }.items():
        (tools / name).write_text(f"#!/bin/sh\n{body}\n")
        (tools / name).chmod(0o755)
    config = {
        "users_file": str(tmp_path / "etc/dovecot/pdic/users"),
        "users_group": group,
        "denied_file": str(tmp_path / "etc/dovecot/pdic/denied"),
        "mailbox_map": str(tmp_path / "etc/postfix/pdic/mailboxes"),
        "home_root": str(tmp_path / "vmail"),
        "archive_dir": str(tmp_path / "vmail-archive"),
        "vmail_user": user,
        "dkim_dir": str(tmp_path / "dkimkeys"),
        "dkim_user": user,
        "lock_file": str(tmp_path / "run/sync.lock"),
        "postmap": str(tools / "postmap"),
        "postalias": str(tools / "postmap"),
        "doveadm": str(tools / "doveadm"),
        "opendkim_genkey": str(tools / "opendkim-genkey"),
    }
    (tmp_path / "vmail").mkdir()
    (tmp_path / "sync.json").write_text(json.dumps(config))
    yield tmp_path
    # Removed by rm, not shutil.rmtree: with pyinfra imported (gevent's monkey patching, by
    # test_bootstrap's collection), rmtree in this process holds a descriptor per directory
    # until the next collection, and 30,000 Maildir directories exhaust them.
    subprocess.run(
        ["rm", "-rf", "--", str(tmp_path / "vmail"), str(tmp_path / "vmail-archive")], check=True
    )


def run(
    host: Path, *args: str, data: Any = None, stdin: str = "", config: str = "sync.json"
) -> subprocess.CompletedProcess[str]:
    """pdic-mail-sync as the role runs it: Debian's python3 if there, else this one."""
    python = "/usr/bin/python3" if Path("/usr/bin/python3").is_file() else sys.executable
    return subprocess.run(
        [python, "-I", str(SCRIPT), "--config", str(host / config), *args],
        input=json.dumps(data) if data is not None else stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def sync(host: Path, *args: str, data: Any = None) -> dict[str, Any]:
    """What a successful run printed (JSON; ``list``'s text as ``{"list": ...}``)."""
    proc = run(host, *args, data=data)
    assert proc.returncode == 0, proc.stderr
    if args[0] == "list":
        return {"list": proc.stdout}
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def boxes(n: int) -> list[list[str]]:
    return [[f"user{i:04d}@so{i % 7}.example.gov.vn", "1G", "active"] for i in range(n)]


def hashes(addresses: list[str]) -> dict[str, str]:
    return {a: HASH.replace("abcdefgh", f"{abs(hash(a)) % 10**8:08d}") for a in addresses}


def test_first_run_creates_every_mailbox(host: Path) -> None:
    wanted = boxes(20)
    planned = sync(host, "plan", data={"mailboxes": wanted})
    assert planned["add"] == sorted(r[0] for r in wanted) and planned["changes"] == 20
    addresses = [r[0] for r in wanted]
    result = sync(host, "apply", data={"mailboxes": wanted, "hashes": hashes(addresses)})
    assert result["created"] == sorted(addresses) and result["map_rebuilt"]
    users = (host / "etc/dovecot/pdic/users").read_text()
    assert (
        len(users.splitlines()) == 21
        and oct((host / "etc/dovecot/pdic/users").stat().st_mode)[-3:] == "640"
    )
    assert (host / "etc/postfix/pdic/mailboxes.db").exists()
    assert (host / "vmail/so3.example.gov.vn/user0003/Maildir/new").is_dir()
    settled = sync(host, "plan", data={"mailboxes": wanted})
    assert settled["changes"] == 0 and settled["stale"] == []
    again = sync(host, "apply", data={"mailboxes": wanted})
    assert again["changes"] == 0 and not again["map_rebuilt"]
    assert sync(host, "list")["list"].splitlines()[0] == "user0000@so0.example.gov.vn\t1G\tactive"


def test_disabled_mailboxes_are_denied_and_derived_files_repaired(host: Path) -> None:
    wanted = boxes(5)
    wanted[2][2] = "disabled"
    sync(host, "apply", data={"mailboxes": wanted, "hashes": hashes([r[0] for r in wanted])})
    denied = host / "etc/dovecot/pdic/denied"
    assert denied.read_text().splitlines()[1:] == [wanted[2][0]]
    assert oct(denied.stat().st_mode)[-3:] == "640"
    # Edited by hand, or an index lost: the next plan sees it and apply repairs it, with no
    # mailbox changed.
    denied.write_text("")
    (host / "etc/postfix/pdic/mailboxes.db").unlink()
    planned = sync(host, "plan", data={"mailboxes": wanted})
    assert planned["changes"] == 0
    assert planned["stale"] == [
        str(host / "etc/postfix/pdic/mailboxes") + ".db",
        str(denied),
    ]
    repaired = sync(host, "apply", data={"mailboxes": wanted})
    assert repaired["map_rebuilt"] and repaired["created"] == []
    assert denied.read_text().splitlines()[1:] == [wanted[2][0]]
    assert sync(host, "plan", data={"mailboxes": wanted})["stale"] == []


def test_a_new_mailbox_without_a_hash_is_refused(host: Path) -> None:
    proc = run(host, "apply", data={"mailboxes": boxes(2), "hashes": {}})
    assert proc.returncode == 2
    assert proc.stderr.startswith("pdic-mail-sync: no password hash for new mailbox(es): ")
    assert not (host / "etc/dovecot/pdic/users").exists()


def test_dry_run_changes_nothing(host: Path) -> None:
    result = sync(host, "apply", "--dry-run", data={"mailboxes": boxes(3)})
    assert result["changes"] == 3 and result["created"] == []
    assert not (host / "etc/dovecot/pdic/users").exists()


def test_ten_changes_among_6000_touch_exactly_those_ten(host: Path) -> None:
    wanted = boxes(6000)
    wanted[30][2] = "disabled"
    sync(host, "apply", data={"mailboxes": wanted, "hashes": hashes([r[0] for r in wanted])})
    users = host / "etc/dovecot/pdic/users"
    # A user changed their password on the host: the next sync keeps it.
    changed_hash = "{SHA512-CRYPT}$6$changed0$" + "y" * 86
    proc = run(host, "set-hash", wanted[5][0], stdin=changed_hash)
    assert proc.returncode == 0, proc.stderr
    (host / "vmail/so1.example.gov.vn/user0001/Maildir/new/1.msg").write_text("kept\n")
    before = users.read_text().splitlines()
    homes_before = {p: p.stat().st_mtime_ns for p in (host / "vmail").glob("*/*")}

    new = [["new1@so1.example.gov.vn", "2G", "active"], ["new2@so2.example.gov.vn", "1G", "active"]]
    removed = {wanted[1][0], wanted[2][0]}
    state = {wanted[10][0]: "disabled", wanted[11][0]: "disabled", wanted[30][0]: "active"}
    requota = {wanted[20][0]: "5G", wanted[21][0]: "500M", wanted[22][0]: "2G"}
    later = [[a, requota.get(a, q), state.get(a, s)] for a, q, s in wanted if a not in removed]
    result = sync(
        host, "apply", data={"mailboxes": later + new, "hashes": hashes([r[0] for r in new])}
    )

    touched = {*result["add"], *result["remove"], *result["disable"], *result["enable"]}
    touched |= {q[0] for q in result["quota"]}
    assert result["changes"] == 10 and len(touched) == 10
    assert set(result["add"]) == {r[0] for r in new}
    assert set(result["remove"]) == removed
    assert result["disable"] == [wanted[10][0], wanted[11][0]]
    assert result["enable"] == [wanted[30][0]]
    assert sorted(q[0] for q in result["quota"]) == sorted(requota)
    after = users.read_text().splitlines()
    assert {line.split(":", 1)[0] for line in set(before) ^ set(after)} == touched
    assert f"{wanted[5][0]}:{changed_hash}::::::userdb_quota_rule=*:storage=1G" in after
    # Removed mailboxes are archived with their mail, never deleted.
    archived = Path(result["archived"][wanted[1][0]])
    assert archived.parent == host / "vmail-archive/so1.example.gov.vn"
    assert archived.name.startswith("user0001-")
    assert (archived / "Maildir/new/1.msg").read_text() == "kept\n"
    assert not (host / "vmail/so1.example.gov.vn/user0001").exists()
    assert result["created"] == sorted(r[0] for r in new)
    homes_after = {p: p.stat().st_mtime_ns for p in (host / "vmail").glob("*/*")}
    untouched = {p for p in homes_before if f"{p.name}@{p.parent.name}" not in touched}
    assert all(homes_after[p] == homes_before[p] for p in untouched)
    kicked = set((host / "bin/doveadm.log").read_text().split())
    assert {wanted[10][0], wanted[11][0], *removed} <= kicked


def test_dkim_keys_are_made_once(host: Path) -> None:
    first = sync(host, "dkim", "--selector", "pdic", "a.example.gov.vn", "b.example.gov.vn")
    assert first == {"created": ["a.example.gov.vn", "b.example.gov.vn"], "present": []}
    key = host / "dkimkeys/a.example.gov.vn/pdic.private"
    assert key.read_text() == "key of a.example.gov.vn\n" and oct(key.stat().st_mode)[-3:] == "600"
    key.write_text("the key in use\n")
    second = sync(host, "dkim", "--selector", "pdic", "a.example.gov.vn", "c.example.gov.vn")
    assert second == {"created": ["c.example.gov.vn"], "present": ["a.example.gov.vn"]}
    assert key.read_text() == "the key in use\n"
    dry = sync(host, "dkim", "--dry-run", "--selector", "pdic", "d.example.gov.vn")
    assert dry["created"] == ["d.example.gov.vn"]
    assert not (host / "dkimkeys/d.example.gov.vn").exists()


def test_postmap_rebuilds_only_stale_maps(host: Path) -> None:
    aliases = host / "aliases"
    aliases.write_text("a@x.vn b@x.vn\n")
    assert sync(host, "postmap", "--dry-run", str(aliases)) == {"rebuilt": [str(aliases)]}
    assert not (host / "aliases.db").exists()
    assert sync(host, "postmap", str(aliases)) == {"rebuilt": [str(aliases)]}
    assert sync(host, "postmap", str(aliases)) == {"rebuilt": []}
    os.utime(host / "aliases.db", (0, 0))  # older than its source
    assert sync(host, "postmap", str(aliases)) == {"rebuilt": [str(aliases)]}
    system = host / "etc-aliases"
    system.write_text("postmaster: root\n")
    assert sync(host, "postmap", str(aliases), "--aliases", str(system)) == {
        "rebuilt": [str(system)]
    }
    assert "hash:" + str(system) in (host / "bin/postmap.log").read_text()


def test_unknown_configuration_keys_are_refused(host: Path) -> None:
    (host / "bad.json").write_text(json.dumps({"users_fil": "/x"}))
    proc = run(host, "list", config="bad.json")
    assert proc.returncode == 2 and "unknown key(s) users_fil" in proc.stderr


def test_the_helper_needs_only_the_standard_library() -> None:
    imported = {
        line.split()[1].split(".")[0]
        for line in SCRIPT.read_text().splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
    assert shutil.which("python3") is not None
