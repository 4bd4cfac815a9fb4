"""Every command of `pdic` against hostile arguments: one line, exit code 2, nothing reached.

Each row runs ``pdic.cli.main`` (the console script's own entry, so the one-line rendering of
usage errors in pdic.exits is under test too) with ``PDIC_DEBUG=1``, so that an exception pdic
did not foresee would print its traceback: the row fails on any ``Traceback``, on an exit code
other than 2, on anything on stderr but ``pdic: error: ...`` lines, and unless the first line
holds the row's message.

No command may reach a host or start a process: the inventory is a copy of inventory/lab whose
hosts sit on TEST-NET-1 (192.0.2.0/24, unroutable) and whose lab paths are temporary; every way
out (processes, exec, sockets, paramiko, HTTP) is replaced by a trap that records the attempt
and raises a BaseException no handler of pdic catches; the lab's machine-wide lock is a
temporary file. A row is stopped by validation, or the test fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
import pytest

# gevent patches sockets and processes when these are imported: before the traps are set.
import pdic.app.transport
import pdic.bootstrap  # noqa: F401
from pdic import lab
from pdic.cli import main

REPO = Path(__file__).resolve().parents[2]


class ReachedOut(BaseException):  # not an Exception: no handler of pdic may swallow it
    """A command tried to reach a host or start a process."""


@dataclass
class Sandbox:
    """What the rows' placeholders stand for, and every attempt to get out."""

    paths: dict[str, str]
    attempts: list[str] = field(default_factory=list)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The paths the rows name, the traps set, an empty working directory."""
    state = tmp_path / "lab-state"
    inv = tmp_path / "inv"
    shutil.copytree(REPO / "inventory" / "lab", inv)
    for path in inv.rglob("*.yml"):
        text = path.read_text(encoding="utf-8")
        text = text.replace("10.251.0.", "192.0.2.").replace("/var/lib/pdic-lab", str(state))
        path.write_text(text, encoding="utf-8")
    state.mkdir()
    (state / "vault-password").write_text("unit-test-password\n")
    (state / "vault-password").chmod(0o600)
    afile = tmp_path / "a-file"
    afile.write_text("x\n")
    adir = tmp_path / "a-dir"
    adir.mkdir()
    fifo = tmp_path / "a-fifo"
    os.mkfifo(fifo)
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"\xff\xfe\x00\x01waivers")
    dangling = tmp_path / "dangling.yml"
    dangling.symlink_to(tmp_path / "nowhere")
    unreadable = tmp_path / "unreadable.yml"
    unreadable.write_text("waivers: []\n")
    unreadable.chmod(0o000)
    if os.geteuid() == 0:  # root reads anything: the file is unreadable as for an operator
        access = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode, **kw: Path(p) != unreadable and access(p, mode, **kw)
        )
    (tmp_path / "notyaml.yml").write_text("id: [x\n")
    (tmp_path / "noid.yml").write_text("name: x\ntier: province\n")
    (tmp_path / "exists.yml").write_text("id: ubnd-tinh\nname: x\ntier: province\n")
    work = tmp_path / "work"
    work.mkdir()
    box = Sandbox(
        {
            "inv": str(inv),
            "file": str(afile),
            "dir": str(adir),
            "fifo": str(fifo),
            "binary": str(binary),
            "dangling": str(dangling),
            "unreadable": str(unreadable),
            "missing": str(tmp_path / "missing"),
            "under_file": str(afile / "sub"),
            **{n: str(tmp_path / f"{n}.yml") for n in ("notyaml", "noid", "exists")},
        }
    )

    def trap(*args: Any, **kwargs: Any) -> Any:
        box.attempts.append(repr(args)[:200])
        raise ReachedOut(f"reached out: {args!r}"[:300])

    for owner, name in [
        (subprocess, "run"),
        (subprocess, "Popen"),
        (subprocess, "check_output"),
        (os, "execvp"),
        (os, "system"),
        (socket, "create_connection"),
        (socket.socket, "connect"),
        (socket.socket, "connect_ex"),
        (paramiko.SSHClient, "connect"),
        (urllib.request, "urlopen"),
    ]:
        monkeypatch.setattr(owner, name, trap)
    monkeypatch.setattr(lab, "LAB_LOCK", tmp_path / "lab.lock")
    monkeypatch.setenv("PDIC_LAB_DIR", str(state))
    monkeypatch.setenv("PDIC_LAB_CACHE", str(tmp_path / "lab-cache"))
    monkeypatch.setenv("PDIC_DEBUG", "1")
    monkeypatch.delenv("PDIC_ENGINE", raising=False)
    monkeypatch.delenv("PDIC_HOME", raising=False)
    monkeypatch.chdir(work)
    return box


# (id, argv, the message the first line holds). {inv} and the other names are `places`.
HOSTILE: list[tuple[str, list[str], str]] = [
    # inventory
    (
        # '' is '.' to the command line library: the (empty) working directory here
        "inventory-empty-path",
        ["inventory", "check", "-i", ""],
        "hosts.yml: (file): missing (an inventory directory needs hosts.yml)",
    ),
    ("inventory-is-a-file", ["inventory", "check", "-i", "{file}"], "a-file: (file): must be"),
    ("inventory-missing", ["inventory", "check", "-i", "{missing}"], "no such inventory directory"),
    ("inventory-nul", ["inventory", "check", "-i", "a\x00b"], "--inventory: embedded null byte"),
    ("inventory-fifo", ["inventory", "check", "-i", "{fifo}"], "no such inventory directory"),
    ("inventory-binary", ["inventory", "check", "-i", "{binary}"], "cannot read: 'utf-8' codec"),
    ("inventory-value-missing", ["inventory", "check", "-i"], "requires an argument"),
    ("limit-empty", ["inventory", "hosts", "-i", "{inv}", "-l", ""], "names no host or group"),
    (
        "limit-option-injection",
        ["inventory", "hosts", "-i", "{inv}", "--limit=-e"],
        "'-e' matches no",
    ),
    ("limit-newline", ["inventory", "hosts", "-i", "{inv}", "-l", "db\nportal"], "matches no host"),
    ("limit-nul", ["inventory", "hosts", "-i", "{inv}", "-l", "db\x00"], "'db\\x00' matches no"),
    ("limit-unicode", ["inventory", "hosts", "-i", "{inv}", "-l", "ủy-ban"], "'ủy-ban' matches no"),
    ("limit-excludes-all", ["inventory", "hosts", "-i", "{inv}", "-l", "!all"], "leaves no host"),
    (
        "limit-intersects-nothing",
        ["inventory", "hosts", "-i", "{inv}", "-l", "&nosuch"],
        "matches no",
    ),
    ("extra-argument", ["inventory", "hosts", "-i", "{inv}", "extra"], "unexpected extra argument"),
    ("unknown-option", ["inventory", "hosts", "--bogus"], "No such option: --bogus"),
    # secrets
    ("secrets-inventory-missing", ["secrets", "ensure", "-i", "{missing}"], "no such inventory"),
    ("secrets-inventory-file", ["secrets", "ensure", "-i", "{file}"], "must be a mapping"),
    # db
    ("db-status-inventory-missing", ["db", "status", "-i", "{missing}"], "no such inventory"),
    ("stanza-empty", ["db", "restore-drill", "-i", "{inv}", "--stanza", ""], "--stanza: '' is not"),
    (
        "stanza-newline",
        ["db", "restore-drill", "-i", "{inv}", "--stanza", "main\nx"],
        "--stanza: 'main\\nx' is not a stanza name",
    ),
    (
        "stanza-option-injection",
        ["db", "restore-drill", "-i", "{inv}", "--stanza=--all"],
        "--stanza: '--all' is not a stanza name",
    ),
    ("target-empty", ["db", "restore-drill", "-i", "{inv}", "--target", ""], "--target: '' is"),
    (
        "target-bad-date",
        ["db", "restore-drill", "-i", "{inv}", "--target", "2026-13-45"],
        "--target: '2026-13-45' is not a time",
    ),
    (
        "target-shell",
        ["db", "restore-drill", "-i", "{inv}", "--target", "now; rm -rf /"],
        "is not a time",
    ),
    ("promote-empty", ["db", "promote", "", "-i", "{inv}"], "no host ''"),
    ("promote-unknown", ["db", "promote", "db-9", "-i", "{inv}"], "no host 'db-9'"),
    ("promote-the-primary", ["db", "promote", "db-1", "-i", "{inv}"], "db-1: not a replica"),
    ("promote-option-injection", ["db", "promote", "-e", "-i", "{inv}"], "No such option: -e"),
    ("promote-missing-host", ["db", "promote", "-i", "{inv}"], "Missing argument"),
    # app
    ("build-out-is-a-file", ["app", "build", "-o", "{file}"], "is a file, not a directory"),
    ("build-out-empty", ["app", "build", "-o", ""], "--out: '' is empty"),
    ("build-out-under-a-file", ["app", "build", "-o", "{under_file}"], "cannot be made"),
    ("build-out-newline", ["app", "build", "-o", "dist\nx"], "holds a control character"),
    (
        "build-source-missing",
        ["app", "build", "--source", "{missing}", "-o", "{dir}"],
        "no wsgi.py",
    ),
    ("serial-negative", ["app", "upgrade", "eoffice", "2", "-i", "{inv}", "-s", "-1"], "--serial"),
    ("serial-zero", ["app", "rollback", "eoffice", "-i", "{inv}", "--serial", "0"], "--serial: 0"),
    ("serial-word", ["app", "upgrade", "eoffice", "2", "-i", "{inv}", "-s", "abc"], "--serial:"),
    (
        "timeout-negative",
        ["app", "upgrade", "eoffice", "2", "-i", "{inv}", "--timeout", "-5"],
        "-5",
    ),
    ("timeout-nan", ["app", "upgrade", "eoffice", "2", "-i", "{inv}", "--timeout", "nan"], "nan"),
    (
        "timeout-inf",
        ["app", "rollback", "hcc", "-i", "{inv}", "--timeout", "inf"],
        "--timeout: inf",
    ),
    ("timeout-huge", ["app", "upgrade", "hcc", "2", "-i", "{inv}", "--timeout", "1e400"], "inf"),
    (
        "timeout-word",
        ["app", "upgrade", "hcc", "2", "-i", "{inv}", "--timeout", "soon"],
        "--timeout",
    ),
    ("app-unknown", ["app", "upgrade", "nosuch", "2", "-i", "{inv}"], "no application 'nosuch'"),
    ("app-empty", ["app", "upgrade", "", "2", "-i", "{inv}"], "no application ''"),
    ("version-unknown", ["app", "upgrade", "eoffice", "99", "-i", "{inv}"], "version '99'"),
    ("version-empty", ["app", "upgrade", "eoffice", "", "-i", "{inv}"], "version ''"),
    ("patch-serial-zero", ["patch", "-i", "{inv}", "--serial", "0"], "--serial: 0 is not"),
    ("patch-serial-word", ["patch", "-i", "{inv}", "--serial", "two"], "--serial:"),
    ("patch-reboot-bad", ["patch", "-i", "{inv}", "--reboot", "always"], "--reboot: 'always'"),
    ("patch-reboot-empty", ["patch", "-i", "{inv}", "--reboot", ""], "--reboot: ''"),
    ("patch-timeout-zero", ["patch", "-i", "{inv}", "--timeout", "0"], "--timeout: 0 is not"),
    ("patch-timeout-nan", ["patch", "-i", "{inv}", "--timeout", "nan"], "--timeout: nan"),
    ("patch-unknown-host", ["patch", "-i", "{inv}", "--limit", "web-9"], "'web-9' matches no"),
    ("patch-empty-limit", ["patch", "-i", "{inv}", "--limit", ","], "names no host or group"),
    ("patch-no-inventory", ["patch", "-i", "{missing}"], "no such inventory directory"),
    # mail
    ("domain-unknown", ["mail", "dns-records", "-i", "{inv}", "-d", "nosuch.example"], "--domain"),
    ("domain-empty", ["mail", "dns-records", "-i", "{inv}", "-d", ""], "--domain: ''"),
    ("mail-diff-limit", ["mail", "diff", "-i", "{inv}", "-l", "nosuch"], "'nosuch' matches no"),
    ("mail-diff-no-mail-host", ["mail", "diff", "-i", "{inv}", "-l", "portal-1"], "of group mail"),
    ("mail-queue-limit-empty", ["mail", "queue", "-i", "{inv}", "-l", ""], "names no host"),
    (
        "mailbox-unknown",
        ["mail", "initial-password", "x@y", "-i", "{inv}"],
        "'x@y' is not a mailbox",
    ),
    ("mailbox-empty", ["mail", "initial-password", "", "-i", "{inv}"], "'' is not a mailbox"),
    # admin: an unknown administrator is named before the vault is read
    (
        "admin-totp-unknown",
        ["admin", "totp", "../x; rm -rf /", "-i", "{inv}"],
        "'../x; rm -rf /' is not an administrator",
    ),
    (
        "admin-enroll-unknown",
        ["admin", "enroll", "root", "--new-key", "-i", "{inv}"],
        "'root' is not an administrator",
    ),
    # audit: every option is refused before the inventory is read or a host reached
    ("audit-format-pdf", ["audit", "-i", "{inv}", "-f", "pdf", "-o", "{dir}"], "--format: 'pdf'"),
    ("audit-format-empty", ["audit", "-i", "{inv}", "-f", "", "-o", "{dir}"], "--format: '' is"),
    ("audit-format-commas", ["audit", "-i", "{inv}", "-f", ",", "-o", "{dir}"], "names nothing"),
    (
        "audit-controls-unknown",
        ["audit", "-i", "{inv}", "-c", "PDIC-NOPE", "-o", "{dir}"],
        "'PDIC-NOPE' is not a control id or id prefix (prefixes: PDIC-ACC, PDIC-BAK,",
    ),
    ("audit-controls-empty", ["audit", "-i", "{inv}", "-c", "", "-o", "{dir}"], "--controls: ''"),
    ("audit-fail-on", ["audit", "-i", "{inv}", "--fail-on", "urgent", "-o", "{dir}"], "--fail-on"),
    ("audit-out-is-a-file", ["audit", "-i", "{inv}", "-o", "{file}"], "--out: "),
    ("audit-waivers-missing", ["audit", "-i", "{inv}", "-w", "{missing}", "-o", "{dir}"], "exist"),
    ("audit-waivers-dir", ["audit", "-i", "{inv}", "-w", "{dir}", "-o", "{dir}"], "is a directory"),
    (
        "audit-waivers-fifo",
        ["audit", "-i", "{inv}", "-w", "{fifo}", "-o", "{dir}"],
        "not a regular",
    ),
    ("audit-waivers-dangling", ["audit", "-i", "{inv}", "-w", "{dangling}", "-o", "{dir}"], "link"),
    (
        "audit-waivers-unreadable",
        ["audit", "-i", "{inv}", "-w", "{unreadable}", "-o", "{dir}"],
        "is not readable",
    ),
    (
        "audit-waivers-binary",
        ["audit", "-i", "{inv}", "-w", "{binary}", "-o", "{dir}"],
        "binary.yml",
    ),
    ("audit-limit-unknown", ["audit", "-i", "{inv}", "-l", "nosuch", "-o", "{dir}"], "'nosuch'"),
    (
        "audit-limit-injection",
        ["audit", "-i", "{inv}", "--limit=-e", "-o", "{dir}"],
        "'-e' matches",
    ),
    # agency
    ("agency-tier", ["agency", "list", "-i", "{inv}", "--tier", "village"], "--tier: 'village'"),
    ("agency-tier-empty", ["agency", "list", "-i", "{inv}", "--tier", ""], "--tier: '' is not"),
    ("agency-list-format", ["agency", "list", "-i", "{inv}", "-f", "xml"], "--format: 'xml'"),
    ("agency-list-no-inventory", ["agency", "list", "-i", "{missing}"], "no such inventory"),
    ("agency-unknown", ["agency", "show", "nosuch", "-i", "{inv}"], "no agency 'nosuch'"),
    ("agency-empty", ["agency", "show", "", "-i", "{inv}"], "no agency ''"),
    ("agency-newline", ["agency", "show", "a\nb", "-i", "{inv}"], "no agency 'a\\nb'"),
    (
        "agency-show-format",
        ["agency", "show", "ubnd-tinh", "-i", "{inv}", "-f", "yaml"],
        "--format",
    ),
    ("agency-show-missing", ["agency", "show", "-i", "{inv}"], "Missing argument"),
    ("agency-add-missing", ["agency", "add", "{missing}", "-i", "{inv}"], "FILE: "),
    ("agency-add-dir", ["agency", "add", "{dir}", "-i", "{inv}"], "is a directory"),
    ("agency-add-fifo", ["agency", "add", "{fifo}", "-i", "{inv}"], "not a regular file"),
    ("agency-add-binary", ["agency", "add", "{binary}", "-i", "{inv}"], "cannot read"),
    ("agency-add-not-yaml", ["agency", "add", "{notyaml}", "-i", "{inv}"], "not YAML"),
    (
        "agency-add-keys",
        ["agency", "add", "{file}", "-i", "{inv}", "--dry-run"],
        "must be a mapping",
    ),
    ("agency-add-no-id", ["agency", "add", "{noid}", "-i", "{inv}"], "noid.yml: id: missing"),
    ("agency-add-exists", ["agency", "add", "{exists}", "-i", "{inv}"], "id: agency 'ubnd-tinh'"),
    (
        "agency-show-timeout",
        ["agency", "show", "ubnd-tinh", "-i", "{inv}", "--timeout", "nan"],
        "--timeout",
    ),
    ("agency-apply-unknown", ["agency", "apply", "nosuch", "-i", "{inv}"], "no agency 'nosuch'"),
    (
        "agency-apply-timeout",
        ["agency", "apply", "vu-thu", "-i", "{inv}", "--timeout", "0"],
        "--timeout",
    ),
    (
        "agency-retire-unknown",
        ["agency", "retire", "nosuch", "-i", "{inv}", "-y"],
        "no agency 'nosuch'",
    ),
    (
        "agency-retire-into-itself",
        ["agency", "retire", "vu-thu", "-i", "{inv}", "--merge-into", "vu-thu", "-y"],
        "--merge-into: 'vu-thu' is the agency being retired",
    ),
    (
        "agency-retire-a-parent",
        ["agency", "retire", "ubnd-tinh", "-i", "{inv}", "-y"],
        "names 'ubnd-tinh' as its parent",
    ),
    (
        "cert-agency-unknown",
        ["cert", "list", "-i", "{inv}", "--agency", "x\ny"],
        "no agency 'x\\ny'",
    ),
    # cert
    (
        "expiring-overflow",
        ["cert", "list", "-i", "{inv}", "--expiring", "99999999999999d"],
        "--expiring: '99999999999999d' is longer than 36500 days",
    ),
    ("expiring-empty", ["cert", "list", "-i", "{inv}", "-e", ""], "--expiring: '' is not"),
    ("expiring-negative", ["cert", "list", "-i", "{inv}", "-e", "-5d"], "'-5d' is not a duration"),
    (
        "expiring-unicode-digit",
        ["cert", "list", "-i", "{inv}", "-e", "\uff15d"],
        "'\uff15d' is not",
    ),
    ("expiring-digits-4301", ["cert", "list", "-i", "{inv}", "-e", "9" * 4301], "is longer than"),
    ("cert-format", ["cert", "list", "-i", "{inv}", "-f", "xml"], "--format: 'xml' is not one of"),
    ("cert-limit", ["cert", "list", "-i", "{inv}", "-l", "nosuch"], "'nosuch' matches no"),
    (
        "revoke-reason",
        ["cert", "revoke", "portal-1:host", "-r", "bogus", "-i", "{inv}"],
        "--reason",
    ),
    (
        "revoke-no-colon",
        ["cert", "revoke", "portal-1", "-r", "superseded", "-i", "{inv}"],
        "HOST:NAME",
    ),
    ("revoke-empty", ["cert", "revoke", "", "-r", "superseded", "-i", "{inv}"], "HOST:NAME"),
    (
        "revoke-unknown-host",
        ["cert", "revoke", "x:host", "-r", "superseded", "-i", "{inv}"],
        "no host",
    ),
    (
        "revoke-name-injection",
        ["cert", "revoke", "portal-1:host;reboot", "-r", "superseded", "-i", "{inv}"],
        "may hold only letters, digits",
    ),
    ("revoke-no-reason", ["cert", "revoke", "portal-1:host", "-i", "{inv}"], "Missing option"),
    # status
    ("prometheus-not-a-url", ["status", "-i", "{inv}", "--prometheus", "notaurl"], "'notaurl'"),
    ("prometheus-bad-ipv6", ["status", "-i", "{inv}", "--prometheus", "http://[::1"], "IPv6"),
    (
        "prometheus-empty",
        ["status", "-i", "{inv}", "--prometheus", ""],
        "--prometheus: '' is empty",
    ),
    ("prometheus-ftp", ["status", "-i", "{inv}", "--prometheus", "ftp://x"], "not an http://"),
    ("prometheus-port", ["status", "-i", "{inv}", "--prometheus", "http://x:99999"], "Port out"),
    ("prometheus-newline", ["status", "-i", "{inv}", "--prometheus", "http://x\n"], "control"),
    (
        "prometheus-credentials",
        ["status", "-i", "{inv}", "--prometheus", "http://admin:hunter2@x:9090"],
        "'<URL with a password>' holds credentials",
    ),
    ("status-inventory-missing", ["status", "-i", "{missing}"], "no such inventory directory"),
    (
        "maint-start-limit",
        ["maint", "start", "-i", "{inv}", "-l", "db-9", "--for", "1h", "-r", "x"],
        "matches no host",
    ),
    (
        "maint-start-for-zero",
        ["maint", "start", "-i", "{inv}", "-l", "db", "--for", "0h", "-r", "x"],
        "must be more than 0",
    ),
    (
        "maint-start-for-past",
        ["maint", "start", "-i", "{inv}", "-l", "db", "--for", "-1h", "-r", "x"],
        "not a duration",
    ),
    (
        "maint-start-reason-newline",
        ["maint", "start", "-i", "{inv}", "-l", "db", "--for", "1h", "-r", "a\nb"],
        "one line",
    ),
    ("maint-list-inventory-missing", ["maint", "list", "-i", "{missing}"], "no such inventory"),
    ("maint-end-bad-id", ["maint", "end", "-i", "{inv}", "../../x"], "is not a window id"),
    ("journal-since-word", ["journal", "--since", "soon"], "--since: 'soon' is not a duration"),
    ("journal-since-empty", ["journal", "--since", ""], "--since: '' is not a duration"),
    ("journal-since-huge", ["journal", "--since", "99999999999d"], "is not a duration"),
    ("journal-since-negative", ["journal", "--since", "-5d"], "is not a duration"),
    ("journal-since-newline", ["journal", "--since", "7d\n"], "is not a duration"),
    ("journal-host-empty", ["journal", "--host", ""], "--host: '' is not a host name"),
    ("journal-host-newline", ["journal", "--host", "db-1\nx"], "is not a host name"),
    # monitoring
    ("targets-out-is-a-file", ["monitoring", "targets", "-i", "{inv}", "-o", "{file}"], "a file"),
    ("targets-out-empty", ["monitoring", "targets", "-i", "{inv}", "-o", ""], "--out: '' is empty"),
    (
        "targets-inventory-missing",
        ["monitoring", "targets", "-i", "{missing}", "-o", "{dir}"],
        "no such inventory directory",
    ),
    ("dashboards-out-is-a-file", ["monitoring", "dashboards", "-o", "{file}"], "is a file"),
    ("dashboards-out-nul", ["monitoring", "dashboards", "-o", "x\x00y"], "control character"),
    ("dashboards-out-fifo", ["monitoring", "dashboards", "-o", "{fifo}"], "not a directory"),
    # lab (validation only: the lab's lock and state are temporary here)
    ("lab-up-limit", ["lab", "up", "-i", "{inv}", "-l", "nosuch"], "'nosuch' matches no"),
    ("lab-down-limit", ["lab", "down", "-i", "{inv}", "-l", "db-9"], "'db-9' matches no"),
    ("lab-status-limit", ["lab", "status", "-i", "{inv}", "-l", ""], "names no host"),
    ("lab-ssh-unknown", ["lab", "ssh", "nosuch", "-i", "{inv}"], "no host 'nosuch'"),
    ("lab-ssh-empty", ["lab", "ssh", "", "-i", "{inv}"], "no host ''"),
    (
        "lab-ssh-user-injection",
        ["lab", "ssh", "db-1", "-i", "{inv}", "-u", "-oProxyCommand=touch /tmp/owned"],
        "--user: '-oProxyCommand=touch /tmp/owned' is not a user name",
    ),
    ("lab-destroy-inventory", ["lab", "destroy", "-i", "{missing}", "-y"], "no such inventory"),
    # bootstrap
    ("bootstrap-limit", ["bootstrap", "-i", "{inv}", "-l", "nosuch"], "'nosuch' matches no"),
    ("bootstrap-limit-injection", ["bootstrap", "-i", "{inv}", "--limit=--all"], "'--all'"),
    ("bootstrap-inventory-missing", ["bootstrap", "-i", "{missing}"], "no such inventory"),
    # deploy
    ("deploy-limit", ["deploy", "-i", "{inv}", "-l", "nosuch"], "'nosuch' matches no"),
    ("deploy-limit-injection", ["deploy", "-i", "{inv}", "--limit=-e"], "'-e' matches no"),
    ("deploy-engine", ["deploy", "-i", "{inv}", "--engine", "bogus"], "--engine: 'bogus'"),
    ("deploy-engine-empty", ["deploy", "-i", "{inv}", "--engine", ""], "--engine: ''"),
    (
        "deploy-playbook-outside",
        ["deploy", "-i", "{inv}", "--playbook", "../../etc/passwd"],
        "--playbook: '../../etc/passwd' is not a playbook of",
    ),
    (
        "deploy-playbook-missing",
        ["deploy", "-i", "{inv}", "--playbook", "playbooks/x.yml"],
        "no such",
    ),
    ("deploy-tags-empty", ["deploy", "-i", "{inv}", "--tags", ""], "--tags: '' is empty"),
    ("deploy-skip-tags-commas", ["deploy", "-i", "{inv}", "--skip-tags", ","], "names nothing"),
    ("deploy-unknown-option", ["deploy", "-i", "{inv}", "--bogus"], "No such option: --bogus"),
    # drift
    ("drift-limit", ["drift", "-i", "{inv}", "-l", "nosuch"], "'nosuch' matches no"),
    ("drift-limit-injection", ["drift", "-i", "{inv}", "--limit=-e"], "'-e' matches no"),
    ("drift-inventory-missing", ["drift", "-i", "{missing}"], "no such inventory"),
    (
        "drift-metrics-file-is-a-dir",
        ["drift", "-i", "{inv}", "--metrics-file", "{dir}"],
        "--metrics-file: ",
    ),
    (
        "drift-metrics-file-missing-dir",
        ["drift", "-i", "{inv}", "--metrics-file", "{missing}/drift.prom"],
        "does not exist",
    ),
    (
        "drift-metrics-file-under-a-file",
        ["drift", "-i", "{inv}", "--metrics-file", "{under_file}"],
        "is not a directory",
    ),
    ("drift-metrics-file-fifo", ["drift", "-i", "{inv}", "--metrics-file", "{fifo}"], "regular"),
    ("drift-metrics-file-empty", ["drift", "-i", "{inv}", "--metrics-file", ""], "is empty"),
    (
        "drift-metrics-file-newline",
        ["drift", "-i", "{inv}", "--metrics-file", "x\ny"],
        "control character",
    ),
    (
        "drift-metrics-file-and-no-publish",
        ["drift", "-i", "{inv}", "--metrics-file", "{dir}/x.prom", "--no-publish"],
        "give one of them",
    ),
    ("drift-unknown-option", ["drift", "-i", "{inv}", "--check"], "No such option: --check"),
]


def test_the_table_covers_every_command() -> None:
    from typer.main import get_command

    from pdic.cli import app

    def leaves(command: Any, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
        subs = getattr(command, "commands", None)
        if not subs:
            return {path}
        return {leaf for name, sub in subs.items() for leaf in leaves(sub, (*path, name))}

    every = leaves(get_command(app))
    covered = {
        tuple(argv[:2]) if tuple(argv[:2]) in every else (argv[0],) for _, argv, _ in HOSTILE
    }
    assert every - covered == set()
    assert len(HOSTILE) >= 60


@pytest.mark.parametrize(
    ("argv", "message"), [row[1:] for row in HOSTILE], ids=[row[0] for row in HOSTILE]
)
def test_hostile_input_is_one_line_and_exit_2(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    rc = main([a.format(**sandbox.paths) if "{" in a else a for a in argv])
    captured = capsys.readouterr()
    assert sandbox.attempts == [], f"reached out: {sandbox.attempts}"
    assert "Traceback" not in captured.err + captured.out, captured.err
    lines = captured.err.splitlines()
    assert rc == 2, captured.err
    assert lines, "nothing on stderr"
    assert all(line.startswith("pdic: error: ") for line in lines), lines
    assert message in lines[0], lines[0]
    assert "hunter2" not in captured.err
