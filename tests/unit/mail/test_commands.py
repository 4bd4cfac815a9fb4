"""pdic mail dns-records, diff, queue and initial-password over recorded host output.

Hosts are fakes that answer the commands pdic sends with output recorded from the helper and
the tools (tests/unit/fixtures/mail/): ``mail-1.dkim`` is what the key script printed for the
lab's three domains (public keys only), ``mail-1.list`` what ``pdic-mail-sync list`` printed.
The expected texts beside them are the commands' recorded output. One DKIM case goes further:
a message signed with a key made here verifies (dkimpy) against the record pdic prints for it.
"""

from __future__ import annotations

import email.utils
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pdic.cli import main
from pdic.inventory import Host, load_inventory
from pdic.mail import MailError, diff, queue, records
from pdic.mail.passwords import initial_password

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "unit" / "fixtures" / "mail"
LAB = load_inventory(REPO / "inventory" / "lab")
VALID = load_inventory(REPO / "tests" / "inventory_corpus" / "_valid")
QUEUE = REPO / "tests" / "unit" / "exporter" / "fixtures" / "postqueue-j.jsonl"


@dataclass
class Result:
    rc: int
    stdout: str = ""
    stderr: str = ""


class FakeHost:
    """Answers with ``answer(command)``; raises it if it is an exception."""

    def __init__(self, answer: Callable[[str], Any]) -> None:
        self.answer = answer
        self.commands: list[str] = []

    def run(self, command: str, *args: str) -> Result:
        self.commands.append(command)
        out = self.answer(command)
        if isinstance(out, Exception):
            raise out
        return out if isinstance(out, Result) else Result(0, out)


def connect(answers: dict[str, Any]) -> Callable[[Host], FakeHost]:
    hosts = {name: FakeHost(answer) for name, answer in answers.items()}
    return lambda host: hosts[host.name]


# -- dns-records ---------------------------------------------------------------------------------


def test_dns_records_of_the_lab_as_recorded() -> None:
    listing = (FIXTURES / "mail-1.dkim").read_text()
    result = records.dns_records(LAB, connect({"mail-1": lambda _: listing}))
    assert result.text == (FIXTURES / "lab.zone").read_text()
    assert result.missing == () and result.errors == {}


def test_one_domain_and_its_records() -> None:
    listing = (FIXTURES / "mail-1.dkim").read_text()
    result = records.dns_records(
        LAB, connect({"mail-1": lambda _: listing}), "sotuphap.lab.pdic.internal"
    )
    txt = records.txt_records(result.text)
    assert set(txt) == {
        "sotuphap.lab.pdic.internal.",
        "pdic._domainkey.sotuphap.lab.pdic.internal.",
        "_dmarc.sotuphap.lab.pdic.internal.",
    }
    assert txt["sotuphap.lab.pdic.internal."] == "v=spf1 mx -all"
    assert txt["pdic._domainkey.sotuphap.lab.pdic.internal."].startswith("v=DKIM1; k=rsa; p=MIIB")
    assert re.search(r"^@ +IN MX +10 mail-1\.lab\.pdic\.internal\.$", result.text, re.M)
    assert all(len(s) <= 255 for s in result.text.split('"')[1::2])


def test_unknown_domain_is_one_clear_error() -> None:
    with pytest.raises(MailError, match=r"--domain: 'nope.vn' is not in mail_domains"):
        records.dns_records(LAB, connect({}), "nope.vn")


def test_a_host_without_keys_or_out_of_reach_is_reported() -> None:
    result = records.dns_records(LAB, connect({"mail-1": lambda _: ""}))
    assert result.missing == (
        "lab.pdic.internal",
        "sotuphap.lab.pdic.internal",
        "huyenmau.lab.pdic.internal",
    )
    assert "; no DKIM key on mail-1 for lab.pdic.internal yet" in result.text
    down = records.dns_records(LAB, connect({"mail-1": lambda _: OSError("no route to host")}))
    assert down.errors == {"mail-1": "OSError: no route to host"}


def test_the_key_script_reads_real_key_files(tmp_path: Path) -> None:
    """The script pdic sends, run here with sh and openssl on key files like the host's."""
    key = _key(tmp_path / "lab.pdic.internal" / "pdic.private")
    script = records.key_script(str(tmp_path))
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    keys = records.parse_keys("mail-1", out).keys
    assert list(keys) == ["lab.pdic.internal"] and list(keys["lab.pdic.internal"]) == ["pdic"]
    assert key  # the private key stays where it is: only the public key was printed
    assert "PRIVATE" not in out


def _key(path: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path.parent.mkdir(parents=True)
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    return pem


def test_a_signed_message_verifies_against_the_printed_record(tmp_path: Path) -> None:
    dkim = pytest.importorskip("dkim")
    pem = _key(tmp_path / "lab.pdic.internal" / "pdic.private")
    script = records.key_script(str(tmp_path))

    def run(_: str) -> str:
        return subprocess.run(
            ["sh", "-c", script], capture_output=True, text=True, check=True
        ).stdout

    zone = records.dns_records(LAB, connect({"mail-1": run}), "lab.pdic.internal").text
    published = records.txt_records(zone)
    message = (
        "From: annv@lab.pdic.internal\r\nTo: binhtt@lab.pdic.internal\r\n"
        f"Subject: test\r\nDate: {email.utils.formatdate()}\r\n"
        "Message-ID: <1@lab.pdic.internal>\r\n\r\nHello.\r\n"
    ).encode()
    signature = dkim.sign(message, b"pdic", b"lab.pdic.internal", pem)

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return published.get(name.decode(), "").encode()

    assert dkim.verify(signature + message, dnsfunc=dnsfunc)
    assert not dkim.verify(signature + message.replace(b"Hello", b"Hallo"), dnsfunc=dnsfunc)


def test_cli_dns_records(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = (FIXTURES / "mail-1.dkim").read_text()
    monkeypatch.setattr("pdic.connect.testinfra_host", connect({"mail-1": lambda _: listing}))
    assert main(["mail", "dns-records", "-i", str(REPO / "inventory" / "lab")]) == 0
    assert capsys.readouterr().out == (FIXTURES / "lab.zone").read_text()
    monkeypatch.setattr("pdic.connect.testinfra_host", connect({"mail-1": lambda _: ""}))
    assert main(["mail", "dns-records", "-i", str(REPO / "inventory" / "lab")]) == 1
    assert "pdic: warning: lab.pdic.internal: no DKIM key" in capsys.readouterr().err


# -- diff ------------------------------------------------------------------------------------------


def test_diff_as_recorded() -> None:
    listing = (FIXTURES / "mail-1.list").read_text()
    host = FakeHost(lambda _: listing)
    diffs = diff.collect(VALID, None, lambda _: host)
    assert diff.format_text(diffs) == (FIXTURES / "mail-1.diff.txt").read_text()
    assert "pdic-mail-sync list" in host.commands[0]


def test_diff_of_a_host_the_role_never_ran_on() -> None:
    diffs = diff.collect(VALID, None, connect({"mail-1": lambda _: diff.NOT_DEPLOYED + "\n"}))
    assert diffs[0].plan is not None
    assert diffs[0].plan.add == (
        "annv@example.gov.vn",
        "binhtt@example.gov.vn",
        "vanthu.xab@example.gov.vn",
    )


def test_diff_reports_a_host_it_cannot_read(capsys: pytest.CaptureFixture[str]) -> None:
    diffs = diff.collect(VALID, None, connect({"mail-1": lambda _: Result(1, "", "sudo: denied")}))
    assert diff.format_text(diffs) == "mail-1: could not be read: sudo: denied\n"
    assert '"error": "sudo: denied"' in diff.format_json(diffs)


def test_cli_diff(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    listing = (FIXTURES / "mail-1.list").read_text()
    monkeypatch.setattr("pdic.connect.testinfra_host", connect({"mail-1": lambda _: listing}))
    case = str(REPO / "tests" / "inventory_corpus" / "_valid")
    assert main(["mail", "diff", "-i", case]) == 0
    assert capsys.readouterr().out == (FIXTURES / "mail-1.diff.txt").read_text()
    assert main(["mail", "diff", "-i", case, "--limit", "db"]) == 2
    assert "selects no host of group mail" in capsys.readouterr().err


# -- queue -----------------------------------------------------------------------------------------


def test_queue_sizes_and_oldest_message() -> None:
    output = QUEUE.read_text()
    statuses = queue.collect(LAB, None, connect({"mail-1": lambda _: output}), 1764300000.0)
    assert queue.format_table(statuses) == (FIXTURES / "queue.txt").read_text()
    (status,) = statuses
    assert status.total == sum(status.counts.values()) and status.oldest_seconds == 86400.0


def test_queue_empty_and_unreadable() -> None:
    (empty,) = queue.collect(LAB, None, connect({"mail-1": lambda _: ""}), 0.0)
    assert empty.total == 0 and empty.oldest_seconds is None
    assert (
        queue.age(None) == "-" and queue.age(45) == "45s" and queue.age(3 * 86400 + 7300) == "3d2h"
    )
    (bad,) = queue.collect(LAB, None, connect({"mail-1": lambda _: "not json\n"}), 0.0)
    assert bad.error.startswith("postqueue -j line 1")
    assert '"error": "postqueue -j line 1' in queue.format_json([bad])


# -- initial-password ------------------------------------------------------------------------------


def test_initial_password_comes_from_the_vault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pdic.secrets import VAULT_FILE, write_vault

    inv = tmp_path / "inv"
    shutil.copytree(REPO / "tests" / "inventory_corpus" / "_valid", inv)
    password = tmp_path / "vault-password"
    password.write_text("lab-vault-password\n")
    with (inv / "group_vars" / "all" / "centre.yml").open("a") as fh:
        fh.write(f"pdic_vault_password_file: {password}\n")
    write_vault(inv / VAULT_FILE, {"vault_mail_password_seed": "s" * 64}, password)
    assert main(["mail", "initial-password", "ANNV@example.gov.vn", "-i", str(inv)]) == 0
    assert capsys.readouterr().out == initial_password("s" * 64, "annv@example.gov.vn") + "\n"
    assert main(["mail", "initial-password", "nobody@example.gov.vn", "-i", str(inv)]) == 2
    assert "is not a mailbox of" in capsys.readouterr().err
