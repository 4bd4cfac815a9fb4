"""Mail on the lab: mail-1 keeps the lab's three domains (playbooks/mail.yml).

Clients are other lab hosts and this machine, as users would be: a message submitted on 587
with STARTTLS and authentication from portal-1 is delivered and read back over IMAPS with
imaplib; it carries a DKIM signature that dkimpy verifies against the record `pdic mail
dns-records` printed (a DNS stub: the lab has no DNS; mail between lab domains stays on
mail-1, so nothing needs an MX lookup). Unauthenticated relay to an outside domain is refused
on 25; AUTH without TLS is refused on 587 and there is no plaintext IMAP or POP3 port; a
mailbox over its quota refuses at RCPT (hopthuday@, 1M, warned at 90%); a disabled mailbox
(dungpm@) cannot log in and the mail sent to it is kept. A change of mailboxes in the inventory
touches exactly those mailboxes (`pdic mail diff`, then a deploy). Passwords are the mailboxes'
initial ones (`pdic mail initial-password`). Idempotence and --check of the whole site are in
test_30_idempotence.py.
"""

from __future__ import annotations

import imaplib
import json
import shutil
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import INVENTORY, pdic

from pdic.inventory import load_inventory
from pdic.mail import records

INV = load_inventory(INVENTORY)
MAIL = INV.host("mail-1")
FQDN = f"{MAIL.name}.{INV.vars['pdic_domain']}"
CLIENT = "portal-1"
MON = "mon-1"
PKI = yaml.safe_load((INVENTORY / "group_vars" / "all" / "pki.yml").read_text())
ROOT_CA = f"/usr/local/share/ca-certificates/pdic/{PKI['pki_ca_root']['name']}.crt"
SENDER = "annv@lab.pdic.internal"
RECIPIENT = "binhtt@lab.pdic.internal"
DISABLED = "dungpm@lab.pdic.internal"
SMALL = "hopthuday@lab.pdic.internal"  # quota 1M

# Run on a lab host with its python3: one SMTP conversation, the outcome as JSON.
# argv: mode (587, 465, relay, plain-auth), host, user, password, from, to, subject, size, CA.
SMTP_CLIENT = r"""
import base64, email.message, email.utils, json, smtplib, ssl, sys
mode, host, user, password, sender, rcpt, subject, size, cafile = sys.argv[1:10]
context = ssl.create_default_context(cafile=cafile)
msg = email.message.EmailMessage()
msg["From"], msg["To"], msg["Subject"] = sender, rcpt, subject
msg["Date"] = email.utils.formatdate(localtime=True)
msg["Message-ID"] = email.utils.make_msgid(domain=sender.split("@")[1])
msg.set_content("pdic lab test.\n" + ("x" * 76 + "\n") * (int(size) // 77))
out = {"code": 0, "message": ""}
try:
    if mode == "465":
        client = smtplib.SMTP_SSL(host, 465, context=context, timeout=60)
    else:
        client = smtplib.SMTP(host, 25 if mode == "relay" else 587, timeout=60)
    with client:
        client.ehlo()
        out["features"] = sorted(client.esmtp_features)
        if mode == "plain-auth":
            token = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
            code, text = client.docmd("AUTH", "PLAIN " + token)
            out.update(code=code, message=text.decode())
        else:
            if mode == "587":
                client.starttls(context=context)
                client.ehlo()
            if mode in ("587", "465"):
                client.login(user, password)
            client.send_message(msg)
            out.update(code=250, message="sent")
except smtplib.SMTPRecipientsRefused as exc:
    code, text = list(exc.recipients.values())[0]
    out.update(code=code, message=text.decode())
except smtplib.SMTPResponseException as exc:
    out.update(code=exc.smtp_code, message=exc.smtp_error.decode(errors="replace"))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def passwords(deployed) -> Callable[[str], str]:  # type: ignore[no-untyped-def]
    """A mailbox's initial password, as an operator gets it."""
    cache: dict[str, str] = {}

    def get(address: str) -> str:
        if address not in cache:
            run = pdic("mail", "initial-password", address)
            assert run.returncode == 0, run
            cache[address] = run.stdout.strip()
        return cache[address]

    return get


@pytest.fixture(scope="module")
def ca_file(connect, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """The centre's root, as the lab hosts trust it."""
    path = tmp_path_factory.mktemp("ca") / "root.crt"
    path.write_text(connect(MAIL.name).check_output("cat %s", ROOT_CA) + "\n")
    return path


def smtp(
    connect: Callable[..., Any],
    mode: str,
    user: str = "",
    password: str = "",
    *,
    sender: str = SENDER,
    to: str = RECIPIENT,
    subject: str = "",
    size: int = 100,
) -> dict[str, Any]:
    client = connect(CLIENT, sudo=False)
    out = client.check_output(
        "python3 -c %s %s %s %s %s %s %s %s %s %s",
        SMTP_CLIENT,
        mode,
        FQDN,
        user,
        password,
        sender,
        to,
        subject or "pdic",
        str(size),
        ROOT_CA,
    )
    result: dict[str, Any] = json.loads(out)
    return result


class _Imaps(imaplib.IMAP4_SSL):
    """IMAPS to mail-1's address, its certificate checked against its name."""

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((MAIL.address, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=FQDN)


def imap(ca_file: Path, address: str, password: str) -> imaplib.IMAP4_SSL:
    client = _Imaps(
        FQDN, 993, ssl_context=ssl.create_default_context(cafile=str(ca_file)), timeout=30
    )
    client.login(address, password)
    return client


def fetch(client: imaplib.IMAP4_SSL, token: str, timeout: float = 90) -> bytes:
    """The message whose subject holds ``token``, once it has arrived."""
    deadline = time.monotonic() + timeout
    while True:
        client.select("INBOX")
        _, found = client.search(None, "SUBJECT", token)
        if found[0]:
            _, data = client.fetch(found[0].split()[-1], "(RFC822)")
            return bytes(data[0][1])  # type: ignore[index]
        assert time.monotonic() < deadline, f"no message {token} in {timeout} s"
        time.sleep(2)


def token() -> str:
    return f"pdic-lab-{uuid.uuid4().hex[:12]}"


# -- the host -----------------------------------------------------------------------------------


def test_every_configuration_passes_its_daemons_check(connect) -> None:  # type: ignore[no-untyped-def]
    host = connect(MAIL.name)
    for command in ("postfix check", "doveconf -n", "opendkim -n", "rspamadm configtest"):
        result = host.run(command)
        assert result.rc == 0, (command, result.stdout, result.stderr)
    for unit in ("postfix", "dovecot", "opendkim", "rspamd", "prometheus-postfix-exporter"):
        assert host.service(unit).is_running, unit
        assert host.service(unit).is_enabled, unit


def test_only_the_tls_mail_ports_listen(connect) -> None:  # type: ignore[no-untyped-def]
    host = connect(MAIL.name)
    for port in (25, 465, 587, 993, 995):
        assert host.socket(f"tcp://0.0.0.0:{port}").is_listening, port
    for port in (110, 143):
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening, port
        with pytest.raises(OSError):
            socket.create_connection((MAIL.address, port), timeout=5).close()


def test_no_mailbox_is_a_system_account(connect) -> None:  # type: ignore[no-untyped-def]
    host = connect(MAIL.name)
    assert not host.user("annv").exists and not host.user(SENDER).exists
    owner = host.check_output("stat -c %%U %s", "/var/vmail/lab.pdic.internal/annv/Maildir")
    assert owner == "vmail"
    users = host.check_output("stat -c '%U:%G %a' /etc/dovecot/pdic/users")
    assert users == "root:dovecot 640"
    assert "{SHA512-CRYPT}$6$" in host.check_output("cut -d: -f2 /etc/dovecot/pdic/users")


# -- sending, reading, signing ---------------------------------------------------------------------


def test_submission_is_delivered_signed_and_read_over_imaps(  # type: ignore[no-untyped-def]
    connect, passwords, ca_file
) -> None:
    subject = token()
    sent = smtp(connect, "587", SENDER, passwords(SENDER), subject=subject)
    assert sent["code"] == 250, sent
    with imap(ca_file, RECIPIENT, passwords(RECIPIENT)) as client:
        message = fetch(client, subject)
    assert b"DKIM-Signature:" in message and b"d=lab.pdic.internal" in message
    assert b"s=pdic" in message

    dkim = pytest.importorskip("dkim")
    run = pdic("mail", "dns-records", "--domain", "lab.pdic.internal")
    assert run.returncode == 0, run
    published = records.txt_records(run.stdout)

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return published.get(name.decode(), "").encode()

    assert dkim.verify(message, dnsfunc=dnsfunc), message[:2000]


def test_implicit_tls_on_465_also_submits(connect, passwords, ca_file) -> None:  # type: ignore[no-untyped-def]
    subject = token()
    sent = smtp(
        connect,
        "465",
        SENDER,
        passwords(SENDER),
        to="haivd@sotuphap.lab.pdic.internal",
        subject=subject,
    )
    assert sent["code"] == 250, sent
    with imap(
        ca_file, "haivd@sotuphap.lab.pdic.internal", passwords("haivd@sotuphap.lab.pdic.internal")
    ) as client:
        assert subject.encode() in fetch(client, subject)


def test_a_user_sends_only_as_themselves(connect, passwords) -> None:  # type: ignore[no-untyped-def]
    sent = smtp(connect, "587", SENDER, passwords(SENDER), sender=RECIPIENT, subject=token())
    assert sent["code"] == 553 and "not owned by user" in sent["message"], sent


# -- what is refused ------------------------------------------------------------------------------


def test_unauthenticated_relay_to_an_outside_domain_is_refused(connect) -> None:  # type: ignore[no-untyped-def]
    refused = smtp(connect, "relay", sender="someone@example.org", to="other@example.net")
    assert refused["code"] == 554 and "Relay access denied" in refused["message"], refused
    # The same client may still deliver to the centre's own mailboxes.
    local = smtp(connect, "relay", sender="someone@example.org", subject=token())
    assert local["code"] == 250, local
    assert "auth" not in local["features"]  # no authentication on port 25 at all


def test_auth_without_tls_is_refused(connect, passwords) -> None:  # type: ignore[no-untyped-def]
    result = smtp(connect, "plain-auth", SENDER, passwords(SENDER))
    assert "auth" not in result["features"] and "starttls" in result["features"], result
    assert result["code"] == 530 and "STARTTLS" in result["message"], result


def test_a_mailbox_over_quota_refuses_delivery(connect, passwords, ca_file) -> None:  # type: ignore[no-untyped-def]
    host = connect(MAIL.name)
    try:
        big = smtp(
            connect,
            "587",
            SENDER,
            passwords(SENDER),
            to=SMALL,
            subject=token(),
            size=2 * 1024 * 1024,
        )
        assert big["code"] == 552 and "5.2.2" in big["message"], big
        # 90% of the quota: accepted, and the user is warned by mail.
        fits = smtp(
            connect, "587", SENDER, passwords(SENDER), to=SMALL, subject=token(), size=950 * 1024
        )
        assert fits["code"] == 250, fits
        with imap(ca_file, SMALL, passwords(SMALL)) as client:
            assert b"Mailbox 90% full" in fetch(client, "90%")
        more = smtp(
            connect, "587", SENDER, passwords(SENDER), to=SMALL, subject=token(), size=400 * 1024
        )
        assert more["code"] == 552, more
        quota = host.check_output("doveadm -f flow quota get -u %s", SMALL)
        assert "Limit=1024" in quota, quota
    finally:
        host.run("doveadm expunge -u %s mailbox INBOX all", SMALL)


def test_a_disabled_mailbox_cannot_log_in_and_keeps_its_mail(  # type: ignore[no-untyped-def]
    connect, passwords, ca_file
) -> None:
    with pytest.raises(imaplib.IMAP4.error):
        imap(ca_file, DISABLED, passwords(DISABLED))
    login = smtp(connect, "587", DISABLED, passwords(DISABLED), sender=DISABLED, subject=token())
    assert login["code"] == 535, login
    subject = token()
    sent = smtp(connect, "587", SENDER, passwords(SENDER), to=DISABLED, subject=subject)
    assert sent["code"] == 250, sent
    host = connect(MAIL.name)
    deadline = time.monotonic() + 90
    while not host.check_output(
        "doveadm search -u %s mailbox INBOX header Subject %s", DISABLED, subject
    ):
        assert time.monotonic() < deadline, "the disabled mailbox's mail was not kept"
        time.sleep(2)


# -- DNS, queue, metrics --------------------------------------------------------------------------


def test_dns_records_name_the_keys_on_the_host() -> None:
    run = pdic("mail", "dns-records")
    assert run.returncode == 0, run
    published = records.txt_records(run.stdout)
    for domain in (d["name"] for d in INV.vars["mail_domains"]):
        assert published[f"pdic._domainkey.{domain}."].startswith("v=DKIM1; k=rsa; p=")
        assert published[f"{domain}."] == "v=spf1 mx -all"
        assert f"$ORIGIN {domain}." in run.stdout
    assert f"IN MX  10 {FQDN}." in run.stdout


def test_pdic_mail_queue_reads_every_mail_host() -> None:
    run = pdic("mail", "queue", "--json")
    assert run.returncode == 0, run
    (status,) = json.loads(run.stdout)
    assert status["host"] == MAIL.name and set(status["queues"]) >= {"active", "deferred"}


def test_the_exporters_answer_the_monitoring_host(connect) -> None:  # type: ignore[no-untyped-def]
    mon = connect(MON, sudo=False)
    postfix = mon.check_output("curl -fsS http://%s:9154/metrics", MAIL.address)
    assert "postfix_up" in postfix or "postfix_showq_message_size_bytes" in postfix
    dovecot = mon.check_output("curl -fsS http://%s:9900/metrics", MAIL.address)
    assert "dovecot_auth_success_total" in dovecot
    queue = mon.check_output("curl -fsS http://%s:9469/metrics", MAIL.address)
    assert 'pdic_mail_queue_messages{queue="deferred"}' in queue


# -- a change of ten mailboxes ---------------------------------------------------------------------


def _listing(host: Any) -> dict[str, str]:
    return {
        line.split("\t")[0]: line for line in host.check_output("pdic-mail-sync list").splitlines()
    }


def test_a_change_of_ten_mailboxes_touches_exactly_those_ten(connect, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inv = tmp_path / "lab"
    shutil.copytree(INVENTORY, inv)
    province_file = inv / "group_vars" / "all" / "province.yml"
    province = yaml.safe_load(province_file.read_text())
    boxes = province["mail_mailboxes"]
    by_address = {b["address"]: b for b in boxes}
    added = [f"moi{i}@sotuphap.lab.pdic.internal" for i in range(1, 5)]
    removed = ["lanntk@sotuphap.lab.pdic.internal", "chanhvp@huyenmau.lab.pdic.internal"]
    disabled = ["hungdq@sotuphap.lab.pdic.internal", "cuonglh@lab.pdic.internal"]
    requota = ["hoaptt@sotuphap.lab.pdic.internal", "vanthu.xamot@lab.pdic.internal"]
    for address in disabled:
        by_address[address]["state"] = "disabled"
    for address in requota:
        by_address[address]["quota"] = "3G"
    province["mail_mailboxes"] = [b for b in boxes if b["address"] not in removed] + [
        {"address": a, "name": f"Người dùng mới {a[3]}", "agency": "so-tu-phap", "quota": "1G"}
        for a in added
    ]
    province_file.write_text(yaml.safe_dump(province, allow_unicode=True, sort_keys=False))
    host = connect(MAIL.name)
    before = _listing(host)
    homes = "stat -c '%n %Y' /var/vmail/*/*"
    mtimes = dict(line.rsplit(" ", 1) for line in host.check_output(homes).splitlines())
    try:
        run = pdic("mail", "diff", "-i", str(inv), "--json")
        assert run.returncode == 0, run
        (plan,) = json.loads(run.stdout)
        assert plan["changes"] == 10, plan
        assert plan["add"] == sorted(added) and plan["remove"] == sorted(removed)
        assert plan["disable"] == sorted(disabled)
        assert sorted(q[0] for q in plan["quota"]) == sorted(requota)

        run = pdic(
            "deploy", "-i", str(inv), "--limit", MAIL.name, "--playbook", "playbooks/mail.yml"
        )
        assert run.returncode == 0, run
        after = _listing(host)
        changed = {a for a in before.keys() | after.keys() if before.get(a) != after.get(a)}
        assert changed == set(added + removed + disabled + requota)
        for address in removed:
            local, domain = address.split("@")
            archived = host.check_output("ls -d /var/vmail-archive/%s/%s-*", domain, local)
            assert archived.splitlines(), address
        for address in added:
            local, domain = address.split("@")
            assert host.file(f"/var/vmail/{domain}/{local}/Maildir/new").is_directory
        untouched = {
            path: mtime
            for path, mtime in mtimes.items()
            if "@".join(reversed(path.rsplit("/", 2)[-2:])) not in changed
        }
        now = dict(line.rsplit(" ", 1) for line in host.check_output(homes).splitlines())
        assert {p: now[p] for p in untouched} == untouched
        run = pdic("mail", "diff", "-i", str(inv))
        assert run.stdout == "mail-1: no change\n", run
    finally:
        restore = pdic("deploy", "--limit", MAIL.name, "--playbook", "playbooks/mail.yml")
        assert restore.returncode == 0, restore
        assert pdic("mail", "diff").stdout == "mail-1: no change\n"
