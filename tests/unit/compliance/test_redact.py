"""Secrets stay out of audit reports: PDIC-BAK-001 reads no option of pgbackrest.conf, and
whatever a host prints, a secret-looking setting's value never reaches a report format.

The host is one that is both a database host and the backup repository: its pgbackrest.conf
(recorded, fixtures/pgbackrest/) holds the repository's ``repo1-cipher-pass``.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from pdic.compliance import runner
from pdic.compliance.catalogue import Waivers, load_catalogue
from pdic.compliance.checks.backups import PGBACKREST_CONF, PGBACKREST_SECTIONS, SECTION_LINES
from pdic.compliance.checks.base import render
from pdic.compliance.redact import REDACTED, redact
from pdic.inventory import Host

from .fakes import REPO, FakeHost, fixture_text

CONF = fixture_text("pgbackrest/db-and-backup.conf")
CIPHER_PASS = re.search(r"^repo1-cipher-pass=(.+)$", CONF, re.M)[1]  # type: ignore[index]
SECTIONS = render(PGBACKREST_SECTIONS, SECTION_LINES, PGBACKREST_CONF)
NOW = 1748739608 + 6 * 3600


def _grep_sections(text: str) -> str:
    """What `grep -E SECTION_LINES` prints of ``text`` (the POSIX class spelled for Python)."""
    pattern = re.compile(SECTION_LINES.replace("[:space:]", r"\s"))
    return "".join(f"{line}\n" for line in text.splitlines() if pattern.match(line))


def _host(sections_reply: str) -> FakeHost:
    """The db + backup host; ``sections_reply`` is what the section listing prints."""
    return FakeHost(
        {
            "systemd-detect-virt --container": (1, "none\n"),
            SECTIONS: sections_reply,
            "runuser -u postgres -- pgbackrest info --output=json --stanza=main": fixture_text(
                "pgbackrest/info.json"
            ),
            "date +%s": f"{NOW}\n",
            "find /srv/backup -type f -mmin -1560 -print -quit": "/srv/backup/pgbackrest/x\n",
            "systemctl list-timers --all --no-legend --plain": fixture_text(
                "pgbackrest/list-timers.txt"
            ),
            "cat -- /var/lib/pdic/restore-drill.json": '{"date": "2025-05-20", "result": "ok"}',
            "date +%F": "2025-06-01\n",
        }
    )


def _reports(tmp_path: Path, host: FakeHost) -> dict[str, str]:
    """Every report format of an audit of the backup controls on ``host``."""
    catalogue = load_catalogue(REPO / "compliance")
    controls = runner.select_controls(catalogue, ["PDIC-BAK"])
    target = Host("db-1", "192.0.2.31", ("db", "backup"), {})
    results, _ = runner.audit_host(target, controls, lambda _: host)
    assert {r.control.id for r in results} == {c.id for c in controls}
    run = runner.AuditRun(results, Waivers(), catalogue)
    out = tmp_path / "reports"
    paths = runner.write_reports(run, out, list(runner.FORMATS), "db-and-backup")
    return {p.suffix: p.read_text(encoding="utf-8") for p in paths}


def test_the_backup_control_reads_only_section_names(tmp_path: Path) -> None:
    host = _host(_grep_sections(CONF))
    reports = _reports(tmp_path, host)
    # The fake host refuses any command it was not told about: no `cat` of the file ran.
    assert SECTIONS in host.commands
    assert not any("cat" in c and "pgbackrest.conf" in c for c in host.commands)
    document = json.loads(reports[".json"])
    backup = next(r for r in document["results"] if r["control"] == "PDIC-BAK-001")
    assert backup["status"] == "pass", backup["message"]
    outputs = [e["output"] for e in backup["evidence"] if e["command"] == SECTIONS]
    assert outputs == ["[global]\n[main]"]
    for fmt, text in reports.items():
        assert CIPHER_PASS not in text, fmt


def test_a_secret_a_host_prints_is_redacted_in_every_format(tmp_path: Path) -> None:
    # As if the section listing printed the whole file (a `cat`, a grep that matched all).
    reports = _reports(tmp_path, _host(CONF))
    assert set(reports) == {".html", ".json", ".xml", ".prom"}
    for fmt, text in reports.items():
        assert CIPHER_PASS not in text, fmt
        assert CIPHER_PASS[:16] not in text, fmt
    document = json.loads(reports[".json"])
    backup = next(r for r in document["results"] if r["control"] == "PDIC-BAK-001")
    [output] = [e["output"] for e in backup["evidence"] if e["command"] == SECTIONS]
    assert f"repo1-cipher-pass={REDACTED}" in output
    assert "repo1-cipher-type=aes-256-cbc" in output  # what is not secret stays
    assert "repo1-cipher-pass=&lt;redacted&gt;" in reports[".html"]


def test_reports_are_private(tmp_path: Path) -> None:
    _reports(tmp_path, _host(_grep_sections(CONF)))
    out = tmp_path / "reports"
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_an_existing_report_directory_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    out.mkdir(mode=0o750)
    out.chmod(0o750)
    catalogue = load_catalogue(REPO / "compliance")
    runner.write_reports(runner.AuditRun([], Waivers(), catalogue), out, ["json"], "t")
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert stat.S_IMODE((out / "audit.json").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("repo1-cipher-pass=abc", f"repo1-cipher-pass={REDACTED}"),
        ("repo1-cipher-pass = two words", f"repo1-cipher-pass = {REDACTED}"),
        ("  PGPASSWORD=hunter2", f"  PGPASSWORD={REDACTED}"),
        ("client_secret: s3cr3t", f"client_secret: {REDACTED}"),
        ("api-key='abc def'", f"api-key='{REDACTED}'"),
        (
            '{"password": "a,b", "user": "u", "key": 1}',
            f'{{"password": "{REDACTED}", "user": "u", "key": {REDACTED}}}',
        ),
        ("export DB_PASS=x other=1", f"export DB_PASS={REDACTED}"),
        ("Secret_Key:abc", f"Secret_Key:{REDACTED}"),
        ("auth_token = abc", f"auth_token = {REDACTED}"),
        # lines of a unified diff (`pdic drift`)
        ("-password = old", f"-password = {REDACTED}"),
        ("+API_TOKEN=new", f"+API_TOKEN={REDACTED}"),
        ('-    "db_pass": "x",', f'-    "db_pass": "{REDACTED}",'),
        ("--- before: /etc/pdic/app.env",) * 2,
        # not settings, or not secret-looking: left alone
        ("/etc/ssh/ssh_host_ed25519_key: 600 root root",) * 2,
        ("HostKey /etc/ssh/ssh_host_rsa_key",) * 2,
        ("PASS_MAX_DAYS 90",) * 2,
        ("repo1-cipher-type=aes-256-cbc",) * 2,
        ("ssl_key:\n  - a",) * 2,
        ("password=",) * 2,
        (f"key = {REDACTED}",) * 2,
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
