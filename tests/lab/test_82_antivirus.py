"""Anti-virus on the lab: clamd (role clamav, playbooks/antivirus.yml) on mail-1, eoffice-1 and
hcc-1, and rspamd's antivirus module on mail-1 (role mail). The lab's clamd loads pdic's own
database (`clamav_signatures: local`): it detects the EICAR test file and nothing else.

- Mail: portal-1 sends a message carrying the EICAR file as an attachment to a lab mailbox, once
  on port 25 as an outside server would and once on 587 as an authenticated user: both are
  refused at the end of DATA with `554 5.7.1 Message rejected: infected with
  Eicar-Test-Signature...` and never reach the mailbox, while a clean attachment sent the same
  way arrives, DKIM-signed.
- Uploads: the EICAR file put into the one-stop shop's storage on hcc-1 (as its service account
  would write an upload) is found by the scan (pdic-clamav-scan.service): one infected file in
  pdic_clamav_scan_infected_files, MalwareFound fires for hcc-1 and is routed to the security
  team (critical: the second path too). Removed and scanned again, the count is 0 and the
  alert resolves.
- Fault: clamd stopped on mail-1 (its socket too: systemd would start it again at the next
  scan). A message with an attachment is tempfailed (`451 4.7.1 Virus scanner unavailable, try
  again later`), one without attachment is still delivered, ClamavDown fires for mail-1
  (critical) and its notification, which has no attachment, reaches the on-call mailbox. clamd
  started again, the attachment is accepted and the alert resolves.
- The audit's anti-virus controls (PDIC-SVC-011..012) pass on the three hosts afterwards.

The EICAR file never touches portal-1's disk (it is built in the SMTP client's memory) and is
removed from hcc-1 at the end. Mail helpers (IMAP, the mailboxes' passwords, the centre's root)
are test_80_mail's.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest
from alerts import (
    PROMETHEUS,
    firing,
    get,
    mails_about,
    prometheus_ready,
    query,
    receivers_for,
    routed,
    wait,
)
from audit_json import results
from conftest import lab_audit
from test_80_mail import FQDN, MAIL, RECIPIENT, ROOT_CA, SENDER, ca_file, fetch, imap, passwords

__all__ = ["ca_file", "passwords", "prometheus_ready"]  # fixtures, used by name

CLIENT = "portal-1"
UPLOADS = "hcc-1"
STORAGE = "/var/lib/pdic-apps/hcc/storage"
# The 68-byte EICAR test file, encoded so that this file is not a test file itself.
EICAR = (
    "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo="
)
CLEAN_TEXT = b"Bao cao quy III, ban sach.\n"
CLEAN = base64.b64encode(CLEAN_TEXT).decode()
# An outside server's sender on port 25 (as test_80_mail's local delivery).
OUTSIDE_SENDER = "someone@example.org"
REJECTED = "5.7.1 Message rejected: infected with Eicar-Test-Signature"
TEMPFAILED = "4.7.1 Virus scanner unavailable, try again later"
CLAMD_UNITS = "clamav-daemon.socket clamav-daemon.service"

# Run on a lab host with its python3: one SMTP conversation, the outcome as JSON.
# argv: port (25, or 587 with STARTTLS and a login), host, user, password, from, to, subject,
# the attachment (base64; "" for none), its file name, CA file.
SMTP_CLIENT = r"""
import base64, email.message, email.utils, json, smtplib, ssl, sys
port, host, user, password, sender, rcpt, subject, attachment, name, cafile = sys.argv[1:11]
msg = email.message.EmailMessage()
msg["From"], msg["To"], msg["Subject"] = sender, rcpt, subject
msg["Date"] = email.utils.formatdate(localtime=True)
msg["Message-ID"] = email.utils.make_msgid(domain=sender.split("@")[1])
msg.set_content("pdic lab test: anti-virus.\n")
if attachment:
    msg.add_attachment(base64.b64decode(attachment), maintype="application",
                       subtype="octet-stream", filename=name)
out = {"code": 0, "message": ""}
try:
    with smtplib.SMTP(host, int(port), timeout=60) as client:
        client.ehlo()
        if port == "587":
            client.starttls(context=ssl.create_default_context(cafile=cafile))
            client.ehlo()
            client.login(user, password)
        client.send_message(msg)
        out.update(code=250, message="sent")
except smtplib.SMTPResponseException as exc:
    out.update(code=exc.smtp_code, message=exc.smtp_error.decode(errors="replace"))
print(json.dumps(out))
"""


def send(  # type: ignore[no-untyped-def]
    connect, port: int, subject: str, attachment: str, name: str, password: str = ""
) -> dict[str, Any]:
    """One message from portal-1 to RECIPIENT: on 587 from SENDER, logged in; on 25 from an
    outside address, as another mail server would hand it over."""
    sender = SENDER if port == 587 else OUTSIDE_SENDER
    client = connect(CLIENT, sudo=False)
    out = client.check_output(
        "python3 -c %s %s %s %s %s %s %s %s %s %s %s",
        SMTP_CLIENT,
        str(port),
        FQDN,
        SENDER,
        password,
        sender,
        RECIPIENT,
        subject,
        attachment,
        name,
        ROOT_CA,
    )
    result: dict[str, Any] = json.loads(out)
    return result


def token() -> str:
    return f"pdic-av-{uuid.uuid4().hex[:12]}"


def in_mailbox(connect, subject: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether a message with ``subject`` is in the recipient's INBOX on mail-1."""
    found = connect(MAIL.name).check_output(
        "doveadm search -u %s mailbox INBOX header Subject %s", RECIPIENT, subject
    )
    return bool(found.strip())


def metric(expr: str) -> float | None:
    found = query(expr)
    return float(found[0]["value"][1]) if found else None


# -- mail -----------------------------------------------------------------------------------


@pytest.mark.parametrize("port", [25, 587])
def test_mail_carrying_malware_is_rejected_at_smtp_time(  # type: ignore[no-untyped-def]
    connect, passwords, port: int
) -> None:
    subject = token()
    sent = send(connect, port, subject, EICAR, "eicar.com", passwords(SENDER))
    assert sent["code"] == 554 and REJECTED in sent["message"], sent
    # Refused before Postfix took it: nothing queued, nothing delivered. A clean message sent
    # right after arrives, so a delivery of the first would have happened by then.
    clean = send(connect, port, token(), CLEAN, "bao-cao.txt", passwords(SENDER))
    assert clean["code"] == 250, clean
    assert not in_mailbox(connect, subject)
    # Postfix logs the milter's verdict (cleanup: milter-reject: END-OF-MESSAGE ...).
    log = connect(MAIL.name).check_output(
        "grep -F -- %s /var/log/mail.log | tail -n 5", "milter-reject: END-OF-MESSAGE"
    )
    assert "Message rejected: infected with Eicar-Test-Signature" in log, log


def test_a_clean_attachment_is_delivered_and_signed(  # type: ignore[no-untyped-def]
    connect, passwords, ca_file: Path
) -> None:
    subject = token()
    sent = send(connect, 587, subject, CLEAN, "bao-cao.txt", passwords(SENDER))
    assert sent["code"] == 250, sent
    with imap(ca_file, RECIPIENT, passwords(RECIPIENT)) as client:
        message = fetch(client, subject)
    assert b"DKIM-Signature:" in message and b"d=lab.pdic.internal" in message
    parsed = cast(EmailMessage, email.message_from_bytes(message, policy=email.policy.default))
    attached = {part.get_filename(): part.get_content() for part in parsed.iter_attachments()}
    assert attached == {"bao-cao.txt": CLEAN_TEXT}


# -- uploads ----------------------------------------------------------------------------------


def _scanned(host, since: float) -> bool:  # type: ignore[no-untyped-def]
    """Run the scan on the host and wait until Prometheus has its result (newer than since)."""
    host.check_output("systemctl start pdic-clamav-scan.service")
    last = f'pdic_clamav_last_scan_timestamp_seconds{{host="{UPLOADS}"}}'
    return bool(wait(lambda: (metric(last) or 0) >= since, timeout=90))


@pytest.mark.usefixtures("prometheus_ready")
def test_an_infected_upload_is_found_and_raises_malware_found(connect) -> None:  # type: ignore[no-untyped-def]
    host = connect(UPLOADS)
    assert host.service("pdic-clamav-scan.timer").is_enabled
    infected = f'pdic_clamav_scan_infected_files{{host="{UPLOADS}", path="{STORAGE}"}}'
    assert metric(infected) == 0, query(infected)
    upload = f"{STORAGE}/files/received/{uuid.uuid4().hex}"
    started = time.time() - 1
    # Written as the application writes an upload: by its own account, readable by it only
    # (the scan hands clamd what root opened).
    host.check_output(
        "install -d -o pdicapp-hcc -g pdicapp-hcc -m 0750 %s", f"{STORAGE}/files/received"
    )
    try:
        host.check_output(
            "printf '%%s' %s | base64 -d | runuser -u pdicapp-hcc -- sh -c %s sh %s",
            EICAR,
            'umask 027; cat > "$1"',
            upload,
        )
        assert host.check_output("stat -c '%%U %%a %%s' %s", upload) == "pdicapp-hcc 640 68"
        assert _scanned(host, started), "the scan's result was not scraped"
        report = host.check_output("cat /var/lib/pdic-clamav/last-scan.txt")
        assert f"{upload}: Eicar-Test-Signature" in report, report
        assert f"{STORAGE}: 1 infected files" in report, report
        assert "infected file" in host.check_output("journalctl -t pdic-clamav --since -10min")
        assert wait(lambda: metric(infected) == 1, timeout=60), query(infected)
        assert metric(f'pdic_clamav_scan_success{{host="{UPLOADS}"}}') == 1
        alerts = wait(lambda: firing("MalwareFound", UPLOADS), timeout=120)
        assert alerts, get(PROMETHEUS, "/api/v1/alerts")
        labels, notes = alerts[0]["labels"], alerts[0]["annotations"]
        assert (labels["severity"], labels["team"], labels["path"]) == (
            "critical",
            "security",
            STORAGE,
        )
        assert notes["runbook_url"] == "monitoring/runbooks/MalwareFound.md"
        assert UPLOADS in notes["summary"] and "1 infected" in notes["summary"]
        sent = wait(lambda: routed("MalwareFound", UPLOADS), timeout=90)
        assert sent and {r["name"] for r in sent[0]["receivers"]} == receivers_for(
            "security", "critical"
        ), sent
        # Reported, never moved or deleted by the scan.
        assert host.file(upload).exists
    finally:
        host.run("rm -f -- %s", upload)
    again = time.time() - 1
    assert _scanned(host, again)
    assert wait(lambda: metric(infected) == 0, timeout=60), query(infected)
    assert wait(lambda: not firing("MalwareFound", UPLOADS), timeout=120)


# -- fault: clamd stopped on the mail host ------------------------------------------------------


def _checked(host, up: int) -> bool:  # type: ignore[no-untyped-def]
    """Run clamd's check now and wait until Prometheus shows pdic_clamav_up == up for mail-1."""
    host.check_output("systemctl start pdic-clamav-check.service")
    return bool(
        wait(lambda: metric(f'pdic_clamav_up{{host="{MAIL.name}"}}') == up, timeout=60, every=2)
    )


@pytest.mark.usefixtures("prometheus_ready")
def test_clamd_down_tempfails_attachments_and_raises_clamav_down(  # type: ignore[no-untyped-def]
    connect, passwords
) -> None:
    host = connect(MAIL.name)
    assert not firing("ClamavDown", MAIL.name), "ClamavDown fires before the fault"
    before = mails_about(connect, "ClamavDown", MAIL.name)
    host.check_output(f"systemctl stop {CLAMD_UNITS}")
    try:
        assert _checked(host, 0), query(f'pdic_clamav_up{{host="{MAIL.name}"}}')
        held = send(connect, 587, token(), CLEAN, "bao-cao.txt", passwords(SENDER))
        assert held["code"] == 451 and TEMPFAILED in held["message"], held
        # Nothing to scan: a message without attachment is still delivered.
        plain = token()
        sent = send(connect, 587, plain, "", "", passwords(SENDER))
        assert sent["code"] == 250, sent
        assert wait(lambda: in_mailbox(connect, plain), timeout=60)
        alerts = wait(lambda: firing("ClamavDown", MAIL.name), timeout=120)
        assert alerts, get(PROMETHEUS, "/api/v1/alerts")
        labels, notes = alerts[0]["labels"], alerts[0]["annotations"]
        assert (labels["severity"], labels["team"]) == ("critical", "security")
        assert notes["runbook_url"] == "monitoring/runbooks/ClamavDown.md"
        assert "451" in notes["description"]
        # The notification has no attachment: it reaches on-call through this very mail host.
        mailed = wait(lambda: mails_about(connect, "ClamavDown", MAIL.name) - before, timeout=120)
        assert mailed, "no ClamavDown notification for mail-1 in the on-call mailbox"
    finally:
        host.run(f"systemctl start {CLAMD_UNITS}")
    assert _checked(host, 1), query(f'pdic_clamav_up{{host="{MAIL.name}"}}')
    again = token()
    accepted = wait(
        lambda: send(connect, 587, again, CLEAN, "bao-cao.txt", passwords(SENDER))["code"] == 250,
        timeout=60,
    )
    assert accepted, "the attachment is still refused after clamd started again"
    assert wait(lambda: not firing("ClamavDown", MAIL.name), timeout=120)


# -- the audit ---------------------------------------------------------------------------------


def test_the_antivirus_controls_pass(tmp_path: Path) -> None:
    hosts = f"{MAIL.name},eoffice-1,{UPLOADS}"
    controls = "PDIC-SVC-011,PDIC-SVC-012,PDIC-SVC-013"
    document = lab_audit(tmp_path, "--limit", hosts, "--controls", controls)
    found = {key: r["outcome"] for key, r in results(document).items()}
    assert found == {
        ("PDIC-SVC-011", MAIL.name): "pass",
        ("PDIC-SVC-011", "eoffice-1"): "pass",
        ("PDIC-SVC-011", UPLOADS): "pass",
        ("PDIC-SVC-012", MAIL.name): "pass",
        ("PDIC-SVC-013", "eoffice-1"): "pass",
        ("PDIC-SVC-013", UPLOADS): "pass",
    }, json.dumps(document["results"], indent=1)[-4000:]
