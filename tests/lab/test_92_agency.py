"""Agencies on the lab: one added, applied, checked, merged into another and retired, as an
operator does it with `pdic agency`.

Two agencies are added from YAML files (`pdic agency add`): a new department with a component
site, a mail domain and three mailboxes, and the one it will merge into (a domain and a
mailbox). `pdic agency apply` converges each; its output shows the site answering with a
certificate verified against the centre's root and the DNS records to publish. From the lab's
hosts: the site answers over HTTPS (curl with the centre's root alone), a message submitted by
one new mailbox is delivered to another, signed with the new domain's DKIM key as the printed
record says. Then `pdic agency retire --merge-into`: the mailboxes are archived on mail-1 (their
Maildirs under the archive directory, the logins gone), a message to an old address arrives in
the other agency's mailbox (an alias now), the site's certificate is on the CA's CRL and its
probe is gone from Prometheus. Retiring the second agency then leaves the inventory byte for
byte as it was, comments included.

The inventory/lab files are snapshotted first and written back at the end whatever happens;
if they had to be, the hosts concerned are converged back to them.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from alerts import wait
from conftest import INVENTORY, Run, pdic
from recap import recap

from pdic.inventory import load_inventory
from pdic.mail import records

INV = load_inventory(INVENTORY)
DOMAIN = str(INV.vars["pdic_domain"])
MAIL = INV.select("mail")[0]
MAIL_FQDN = f"{MAIL.name}.{DOMAIN}"
MON = INV.select("monitoring")[0]
PROMETHEUS = f"http://{MON.address}:9090"
ROOT_CA = (
    "/usr/local/share/ca-certificates/pdic/"
    f"{INV.vars.get('pki_ca_root', {}).get('name', 'pdic-root')}.crt"
)
ARCHIVE = "/var/vmail-archive"

NEW_ID = "so-thu-nghiem"
NEW_DOMAIN = f"sotn.{DOMAIN}"
NEW_SITE = "sotn"
NEW_HOST = f"sotn.{DOMAIN}"
NEW_BOXES = ("vanthu", "giamdoc", "ketoan")
NEW = f"""\
# An agency of the lab test: a department with its site, domain and three mailboxes.
id: {NEW_ID}
name: "Sở Thử nghiệm"
tier: province
parent: ubnd-tinh
mail:
  domain: {NEW_DOMAIN}
  host: {MAIL.name}
  mailboxes:
    - {{local: vanthu, name: "Văn thư Sở Thử nghiệm"}}
    - {{local: giamdoc, name: "Giám đốc Sở Thử nghiệm", quota: 2G}}
    - {{local: ketoan, name: "Kế toán Sở Thử nghiệm"}}
site:
  name: {NEW_SITE}
  hostname: {NEW_HOST}
"""
INTO_ID = "so-hop-nhat"
INTO_DOMAIN = f"sohn.{DOMAIN}"
INTO = f"""\
id: {INTO_ID}
name: "Sở Hợp nhất"
tier: province
parent: ubnd-tinh
mail:
  domain: {INTO_DOMAIN}
  mailboxes:
    - {{local: vanthu, name: "Văn thư Sở Hợp nhất"}}
"""

# Run on a lab host with its python3: one submission on 587 (STARTTLS, AUTH), as JSON.
SUBMIT = r"""
import email.message, email.utils, json, smtplib, ssl, sys
host, user, password, rcpt, subject, cafile = sys.argv[1:7]
msg = email.message.EmailMessage()
msg["From"], msg["To"], msg["Subject"] = user, rcpt, subject
msg["Date"] = email.utils.formatdate(localtime=True)
msg["Message-ID"] = email.utils.make_msgid(domain=user.split("@")[1])
msg.set_content("pdic agency lab test.\n")
out = {"code": 250, "message": "sent"}
try:
    with smtplib.SMTP(host, 587, timeout=60) as client:
        client.starttls(context=ssl.create_default_context(cafile=cafile))
        client.login(user, password)
        client.send_message(msg)
except smtplib.SMTPResponseException as exc:
    out = {"code": exc.smtp_code, "message": exc.smtp_error.decode(errors="replace")}
print(json.dumps(out))
"""
# Run on the monitoring host (postscreen lets it through): one message on 25, no AUTH.
DELIVER = r"""
import email.message, smtplib, sys
host, rcpt, subject = sys.argv[1:4]
msg = email.message.EmailMessage()
msg["From"], msg["To"], msg["Subject"] = "someone@example.org", rcpt, subject
msg.set_content("pdic agency lab test.\n")
with smtplib.SMTP(host, 25, timeout=60) as client:
    client.send_message(msg)
print("sent")
"""


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def original(deployed: Run) -> Iterator[dict[str, bytes]]:
    """inventory/lab's files as they were; written back (and the hosts concerned converged to
    them) at the end if anything is left different, also when a test failed."""
    before = snapshot(INVENTORY)
    yield before
    after = snapshot(INVENTORY)
    if after == before:
        return
    for rel, data in before.items():
        if after.get(rel) != data:
            (INVENTORY / rel).write_bytes(data)
    for rel in set(after) - set(before):
        (INVENTORY / rel).unlink()
    limit = f"{INV.select('portal')[0].name},{MAIL.name},{MON.name}"
    pdic("deploy", "--limit", limit, "--tags", "etc_hosts,web,monitoring,mail,aide")


@pytest.fixture(scope="module")
def applied(original: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Both agencies added from their files and applied: `pdic agency apply`'s runs."""
    specs = tmp_path_factory.mktemp("agencies")
    runs: dict[str, Run] = {}
    for name, text in ((INTO_ID, INTO), (NEW_ID, NEW)):
        spec = specs / f"{name}.yml"
        spec.write_text(text, encoding="utf-8")
        added = pdic("agency", "add", str(spec))
        assert added.returncode == 0, added
    for name in (INTO_ID, NEW_ID):
        runs[name] = pdic("agency", "apply", name, timeout=1800)
        assert runs[name].returncode == 0, runs[name]
    return runs


def token() -> str:
    return f"pdic-agency-{uuid.uuid4().hex[:12]}"


def password(address: str) -> str:
    run = pdic("mail", "initial-password", address)
    assert run.returncode == 0, run
    return run.stdout.strip()


def maildir_file(connect, address: str, subject: str, timeout: float = 90) -> str:  # type: ignore[no-untyped-def]
    """The path of the message with ``subject`` in ``address``'s Maildir on the mail host."""
    local, domain = address.split("@")
    mail = connect(MAIL.name)
    deadline = time.monotonic() + timeout
    while True:
        found = mail.run(
            "grep -l -r -F -- %s /var/vmail/%s/%s/Maildir 2>/dev/null", subject, domain, local
        )
        if found.stdout.strip():
            return str(found.stdout.split()[0])
        assert time.monotonic() < deadline, f"no message {subject} for {address} in {timeout} s"
        time.sleep(2)


def targets_of(site: str) -> list[dict[str, Any]]:
    import urllib.request

    url = f"{PROMETHEUS}/api/v1/targets?state=active"
    with urllib.request.urlopen(url, timeout=10) as response:  # a lab address
        data = json.load(response)["data"]
    return [t for t in data["activeTargets"] if t["labels"].get("site") == site]


# -- add and apply ----------------------------------------------------------------------------


def test_apply_converges_only_the_hosts_it_names(applied: dict[str, Run]) -> None:
    out = applied[NEW_ID].stdout
    first = out.splitlines()[0]
    assert first.startswith("ansible-playbook playbooks/site.yml --limit "), first
    limit = first.split("--limit ")[1].split()[0].split(",")
    assert sorted(limit) == sorted([INV.select("portal")[0].name, MAIL.name, MON.name])
    hosts = recap(out)
    assert sorted(hosts) == sorted(limit), out[-3000:]
    assert not any(h["failed"] or h["unreachable"] for h in hosts.values()), hosts
    # The agency it merges into has only mail: mail-1 alone.
    into = applied[INTO_ID].stdout.splitlines()[0]
    assert f"--limit {MAIL.name} --tags mail,aide" in into


def test_the_site_answers_with_a_certificate_verified_against_the_root(  # type: ignore[no-untyped-def]
    applied: dict[str, Run], connect
) -> None:
    out = applied[NEW_ID].stdout
    assert f"{NEW_SITE} ({NEW_HOST}) on portal-1: answers 200, certificate verified" in out, out
    client = connect(MON.name, sudo=False)
    page = client.check_output("curl -fsS --cacert %s https://%s/", ROOT_CA, NEW_HOST)
    assert "Sở Thử nghiệm" in page


def test_the_dns_records_to_publish_are_printed_with_the_new_dkim_key(
    applied: dict[str, Run],
) -> None:
    out = applied[NEW_ID].stdout
    assert "\nDNS records to publish:\n" in out, out
    printed = records.txt_records(out.split("\nDNS records to publish:\n", 1)[1])
    key = printed.get(f"pdic._domainkey.{NEW_DOMAIN}.", "")
    assert key.startswith("v=DKIM1; k=rsa; p="), printed
    assert printed[f"_dmarc.{NEW_DOMAIN}."].startswith("v=DMARC1")
    again = pdic("mail", "dns-records", "--domain", NEW_DOMAIN)
    assert again.returncode == 0, again
    assert records.txt_records(again.stdout)[f"pdic._domainkey.{NEW_DOMAIN}."] == key
    assert f"{NEW_DOMAIN} on {MAIL.name}: key on the host" in out
    assert f"{MAIL.name}: {len(NEW_BOXES)} of {len(NEW_BOXES)} mailboxes on the host" in out


def test_a_new_mailbox_receives_mail_signed_with_the_new_key(  # type: ignore[no-untyped-def]
    applied: dict[str, Run], connect
) -> None:
    sender, recipient = f"vanthu@{NEW_DOMAIN}", f"giamdoc@{NEW_DOMAIN}"
    subject = token()
    client = connect("portal-1", sudo=False)
    sent = json.loads(
        client.check_output(
            "python3 -c %s %s %s %s %s %s %s",
            SUBMIT,
            MAIL_FQDN,
            sender,
            password(sender),
            recipient,
            subject,
            ROOT_CA,
        )
    )
    assert sent["code"] == 250, sent
    path = maildir_file(connect, recipient, subject)
    # The stored message, byte for byte, with the line ends it had on the wire (signed as such).
    stored = base64.b64decode(connect(MAIL.name).check_output("base64 -w0 -- %s", path))
    message = stored.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert b"DKIM-Signature:" in message and f"d={NEW_DOMAIN}".encode() in message
    dkim = pytest.importorskip("dkim")
    out = applied[NEW_ID].stdout
    published = records.txt_records(out.split("\nDNS records to publish:\n", 1)[1])

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return published.get(name.decode(), "").encode()

    assert dkim.verify(message, dnsfunc=dnsfunc), message[:2000]


def test_the_site_is_probed(applied: dict[str, Run]) -> None:
    found = wait(lambda: [t for t in targets_of(NEW_SITE) if t["health"] == "up"])
    assert found, targets_of(NEW_SITE)
    assert found[0]["labels"]["agency"] == NEW_ID


# -- retire, merged into the other -------------------------------------------------------------


@pytest.fixture(scope="module")
def merged(applied: dict[str, Run], connect) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The site certificate's serial before, and `pdic agency retire --merge-into --yes`."""
    portal = connect("portal-1")
    serial = portal.check_output(
        "openssl x509 -noout -serial -in /etc/pdic/pki/site-%s.crt", NEW_SITE
    ).partition("=")[2]
    shown = pdic("agency", "retire", NEW_ID, "--merge-into", INTO_ID)
    assert shown.returncode == 0 and "nothing done" in shown.stdout, shown
    run = pdic("agency", "retire", NEW_ID, "--merge-into", INTO_ID, "--yes", timeout=1800)
    assert run.returncode == 0, run
    return {"serial": serial, "run": run}


def test_the_mailboxes_are_archived_not_deleted(merged: dict[str, Any], connect) -> None:  # type: ignore[no-untyped-def]
    mail = connect(MAIL.name)
    listing = mail.check_output("pdic-mail-sync list")
    for local in NEW_BOXES:
        assert f"{local}@{NEW_DOMAIN}\t" not in listing
        archived = mail.check_output("ls -d %s/%s/%s-*", ARCHIVE, NEW_DOMAIN, local)
        assert archived.splitlines(), local
        assert not mail.file(f"/var/vmail/{NEW_DOMAIN}/{local}").exists
    # The message delivered before the merge is in the archive.
    assert mail.run("grep -r -l -F pdic-agency- %s/%s/giamdoc-*", ARCHIVE, NEW_DOMAIN).rc == 0


def test_an_old_address_reaches_the_other_agency(merged: dict[str, Any], connect) -> None:  # type: ignore[no-untyped-def]
    subject = token()
    mon = connect(MON.name, sudo=False)
    mon.check_output("python3 -c %s %s %s %s", DELIVER, MAIL_FQDN, f"ketoan@{NEW_DOMAIN}", subject)
    # ketoan@ has no namesake in the other agency: its first mailbox receives it.
    maildir_file(connect, f"vanthu@{INTO_DOMAIN}", subject)


def test_the_site_certificate_is_on_the_crl(merged: dict[str, Any]) -> None:
    run = pdic("cert", "list", "--limit", "portal-1", "--format", "json")
    assert run.returncode == 0, run
    entries = [e for e in json.loads(run.stdout) if e["path"].endswith(f"/site-{NEW_SITE}.crt")]
    assert [e["serial"] for e in entries] == [merged["serial"]]
    assert entries[0]["revoked"] is True
    assert f"portal-1:site-{NEW_SITE} revoked, serial {merged['serial']}" in merged["run"].stdout


def test_the_probe_and_the_site_are_gone(merged: dict[str, Any], connect) -> None:  # type: ignore[no-untyped-def]
    assert wait(lambda: not targets_of(NEW_SITE)), targets_of(NEW_SITE)
    conf = connect("portal-1").check_output("cat /etc/nginx/conf.d/pdic-sites.conf")
    assert NEW_HOST not in conf


def test_retiring_the_other_gives_back_the_inventory_byte_for_byte(  # type: ignore[no-untyped-def]
    merged: dict[str, Any], original: dict[str, bytes], connect
) -> None:
    run = pdic("agency", "retire", INTO_ID, "--yes", timeout=1800)
    assert run.returncode == 0, run
    assert snapshot(INVENTORY) == original
    listing = connect(MAIL.name).check_output("pdic-mail-sync list")
    assert INTO_DOMAIN not in listing and NEW_DOMAIN not in listing
    check = yaml.safe_load((INVENTORY / "group_vars" / "all" / "province.yml").read_text())
    assert NEW_ID not in {a["id"] for a in check["pdic_agencies"]}
