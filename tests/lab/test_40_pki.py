"""Certificate services on the lab: the CA on ca-1, trust and certificates on every host.

Checks what issue 3 asks of the first slice: every host certificate verifies against the
internal root on another host (with the system trust store and with the root alone); the
root key is root-only and exists only on ca-1; the CRL is served over HTTP from ca-1 and read
from another host; the CRL timer is active and its service works; issued certificates are in
the CA's openssl database; a certificate with 2 days left is renewed by the next deploy and an
untouched one is not; the root publishes a CRL too and the whole chain passes a CRL check;
``pdic cert revoke`` puts the serial on the CRL at once, another host's ``openssl verify
-crl_check`` then rejects the certificate, and the next deploy issues a new one; a renewal
revokes the certificate it replaces (superseded); ``pdic cert list`` reads every certificate,
including one placed by hand under a path the inventory names, and ``--expiring 30d`` lists
exactly the expiring ones. Idempotence and --check are checked for the whole site in
test_30_idempotence.py.
"""

from __future__ import annotations

import datetime
import json
import re
import time

import pytest
import yaml
from conftest import INVENTORY, Run, pdic
from recap import recap

from pdic.inventory import load_inventory

HOSTS = sorted(load_inventory(INVENTORY).hosts)
CA = "ca-1"
PKI = yaml.safe_load((INVENTORY / "group_vars" / "all" / "pki.yml").read_text())
_CENTRE = yaml.safe_load((INVENTORY / "group_vars" / "all" / "centre.yml").read_text())
DOMAIN = _CENTRE["pdic_domain"]
CENTRE = _CENTRE["pdic_centre_name"]
PORTAL_SITES = yaml.safe_load((INVENTORY / "group_vars" / "all" / "province.yml").read_text())[
    "portal_sites"
]
ROOT_NAME = PKI["pki_ca_root"]["name"]
NATIONAL_NAME = PKI["pki_ca_national"]["name"]
CA_DIR = "/var/lib/pdic-ca"
ROOT_KEY = f"{CA_DIR}/root/private/ca.key"
TRUST_DIR = "/usr/local/share/ca-certificates/pdic"
CRL_URL = f"http://{CA}.{DOMAIN}/issuing.crl"
KEY_FILES = (
    "grep -rlsE --exclude-dir=apt -- '-----BEGIN (EC |RSA |ENCRYPTED )?PRIVATE KEY-----' "
    "/etc /var /root /home /srv /opt /usr/local /tmp"
)


def _other(name: str) -> str:
    """The host after ``name`` in the inventory (wrapping): where ``name``'s files are checked."""
    return HOSTS[(HOSTS.index(name) + 1) % len(HOSTS)]


def _serial(host, path: str = "/etc/pdic/pki/host.crt") -> str:  # type: ignore[no-untyped-def]
    return str(host.check_output("openssl x509 -in %s -noout -serial", path)).split("=", 1)[1]


def _put(host, path: str, content: str) -> None:  # type: ignore[no-untyped-def]
    host.check_output("printf '%%s' %s > %s", content, path)


def _index_status(ca, serial: str) -> str:  # type: ignore[no-untyped-def]
    """V (valid), R (revoked) or '' for ``serial`` in the issuing CA's openssl database."""
    index = ca.check_output("cat %s/issuing/index.txt", CA_DIR)
    for line in index.splitlines():
        fields = line.split("\t")
        if fields[3] == serial:
            return fields[0]
    return ""


def _verify_host_certificate(client, mode: str, *crls: str):  # type: ignore[no-untyped-def]
    """``openssl verify`` of ``client``'s own host certificate with ``mode`` (-crl_check or
    -crl_check_all) and the CRL files ``crls`` on it."""
    return client.run(
        "openssl verify %s " + "-CRLfile %s " * len(crls) + "-untrusted %s %s",
        mode,
        *crls,
        "/etc/pdic/pki/host.fullchain.pem",
        "/etc/pdic/pki/host.fullchain.pem",
    )


def _crl_check(client, name: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """``openssl verify -crl_check`` on ``client`` of ``name``'s host certificate, with the CRL
    fetched over HTTP from the CA at this moment."""
    client.check_output(
        "curl -fsS %s | openssl crl -inform DER -out /tmp/pdic-test-now.crl.pem", CRL_URL
    )
    result = client.run(
        "openssl verify -crl_check -CRLfile /tmp/pdic-test-now.crl.pem -untrusted %s %s",
        f"/tmp/pdic-test-{name}.fullchain.pem",
        f"/tmp/pdic-test-{name}.fullchain.pem",
    )
    return result.rc, result.stdout + result.stderr


@pytest.fixture(scope="module")
def root_pubkey_hash(connect) -> str:  # type: ignore[no-untyped-def]
    ca = connect(CA)
    return str(ca.check_output("openssl pkey -in %s -pubout | sha256sum | cut -d' ' -f1", ROOT_KEY))


@pytest.mark.parametrize("name", HOSTS)
def test_host_certificate_verifies_on_another_host(connect, name: str) -> None:  # type: ignore[no-untyped-def]
    source, verifier = connect(name), connect(_other(name))
    fullchain = source.file("/etc/pdic/pki/host.fullchain.pem").content_string
    path = f"/tmp/pdic-test-{name}.fullchain.pem"
    _put(verifier, path, fullchain)
    fqdn = f"{name}.{DOMAIN}"
    # The system trust store of the other host (update-ca-certificates put the root there).
    system = verifier.run(
        "openssl verify -purpose sslserver -verify_hostname %s -untrusted %s %s", fqdn, path, path
    )
    assert system.rc == 0 and system.stdout.strip().endswith(": OK"), system.stdout + system.stderr
    # The internal root alone, without the rest of the store.
    alone = verifier.run(
        "openssl verify -no-CApath -no-CAstore -CAfile %s -untrusted %s %s",
        f"{TRUST_DIR}/{ROOT_NAME}.crt",
        path,
        path,
    )
    assert alone.rc == 0, alone.stdout + alone.stderr
    # Short name as a SAN too, and the CRL distribution point of the issuing CA.
    text = verifier.check_output(
        "openssl x509 -in %s -noout -ext subjectAltName,crlDistributionPoints", path
    )
    assert f"DNS:{fqdn}" in text and f"DNS:{name}" in text, text
    assert CRL_URL in text, text
    verifier.run("rm -f %s", path)


@pytest.mark.parametrize("name", HOSTS)
def test_host_key_stays_private(connect, name: str) -> None:  # type: ignore[no-untyped-def]
    key = connect(name).file("/etc/pdic/pki/host.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)


@pytest.mark.parametrize("site", PORTAL_SITES, ids=[s["name"] for s in PORTAL_SITES])
def test_every_portal_site_has_its_own_certificate(connect, site) -> None:  # type: ignore[no-untyped-def]
    portal = connect("portal-1")
    crt = f"/etc/pdic/pki/site-{site['name']}.crt"
    text = portal.check_output("openssl x509 -in %s -noout -subject -ext subjectAltName", crt)
    assert set(re.findall(r"DNS:([^,\s]+)", text)) == {site["hostname"]}, text
    assert f"CN = {site['hostname']}" in text, text
    fullchain = f"/etc/pdic/pki/site-{site['name']}.fullchain.pem"
    check = portal.run("openssl verify -untrusted %s %s", fullchain, fullchain)
    assert check.rc == 0, check.stdout + check.stderr


@pytest.mark.parametrize("name", HOSTS)
def test_every_host_trusts_both_roots(connect, name: str) -> None:  # type: ignore[no-untyped-def]
    host = connect(name)
    for root in (ROOT_NAME, NATIONAL_NAME):
        link = host.file(f"/etc/ssl/certs/{root}.pem")
        assert link.is_symlink and link.linked_to == f"{TRUST_DIR}/{root}.crt", root
        # In the bundle OpenSSL, curl and Python read.
        body = host.check_output("sed -n 2p %s", f"{TRUST_DIR}/{root}.crt")
        assert host.run("grep -qF -- %s /etc/ssl/certs/ca-certificates.crt", body).rc == 0, root


def test_root_key_is_readable_by_root_only(connect) -> None:  # type: ignore[no-untyped-def]
    ca = connect(CA)
    key = ca.file(ROOT_KEY)
    assert key.user == "root" and key.group == "root"
    assert key.mode in (0o400, 0o600)
    private = ca.file(f"{CA_DIR}/root/private")
    assert (private.user, private.mode) == ("root", 0o700)
    # The operations account cannot read it without sudo.
    assert connect(CA, sudo=False).run("cat %s", ROOT_KEY).rc != 0


@pytest.mark.parametrize("name", [h for h in HOSTS if h != CA])
def test_root_key_exists_only_on_the_ca(connect, root_pubkey_hash: str, name: str) -> None:  # type: ignore[no-untyped-def]
    host = connect(name)
    assert not host.file(CA_DIR).exists
    # No private key anywhere on the host has the root's public key.
    hashes = host.check_output(
        "for f in $(" + KEY_FILES + "); do "
        "openssl pkey -in \"$f\" -pubout 2>/dev/null | sha256sum | cut -d' ' -f1; done"
    )
    assert root_pubkey_hash not in hashes.split()


def test_crl_is_served_over_http_and_read_from_another_host(connect) -> None:  # type: ignore[no-untyped-def]
    client = connect("db-1")
    client.check_output("curl -fsS -o /tmp/pdic-test.crl %s", CRL_URL)
    client.check_output(
        "curl -fsS -o /tmp/pdic-test-chain.pem %s", f"http://{CA}.{DOMAIN}/chain.pem"
    )
    # DER, signed by the issuing CA, not yet due.
    text = client.check_output(
        "openssl crl -inform DER -in /tmp/pdic-test.crl -CAfile /tmp/pdic-test-chain.pem -noout "
        "-issuer -nextupdate 2>&1"
    )
    assert "verify OK" in text, text
    assert PKI["pki_ca_issuing"]["common_name"] in text, text
    next_update = re.search(r"nextUpdate=(.+)", text)
    assert next_update, text
    due = datetime.datetime.strptime(" ".join(next_update[1].split()), "%b %d %H:%M:%S %Y GMT")
    assert due.replace(tzinfo=datetime.UTC) > datetime.datetime.now(datetime.UTC), text
    # A certificate that is not revoked passes a CRL check.
    client.check_output(
        "openssl crl -inform DER -in /tmp/pdic-test.crl -out /tmp/pdic-test-crl.pem"
    )
    check = _verify_host_certificate(client, "-crl_check", "/tmp/pdic-test-crl.pem")
    assert check.rc == 0, check.stdout + check.stderr
    client.run("rm -f /tmp/pdic-test.crl /tmp/pdic-test-crl.pem /tmp/pdic-test-chain.pem")


def test_ca_serves_only_its_publication_point(connect) -> None:  # type: ignore[no-untyped-def]
    ca = connect(CA)
    assert ca.service("nginx").is_running
    assert not ca.file("/etc/nginx/sites-enabled/default").exists
    for name in ("root.crt", "issuing.crt", "chain.pem", "issuing.crl", "national.crt"):
        status = ca.check_output(
            "curl -s -o /dev/null -w '%%{http_code}' %s", f"http://127.0.0.1/{name}"
        )
        assert status == "200", name
    assert (
        ca.check_output("curl -s -o /dev/null -w '%%{http_code}' %s", "http://127.0.0.1/private/")
        == "404"
    )


def test_crl_timer_is_active_and_its_service_renews_the_crl(connect) -> None:  # type: ignore[no-untyped-def]
    ca = connect(CA)
    timer = ca.service("pdic-ca-gencrl.timer")
    assert timer.is_enabled and timer.is_running
    before = ca.check_output("openssl crl -in %s/issuing/crl.pem -noout -crlnumber", CA_DIR)
    ca.check_output("systemctl start pdic-ca-gencrl.service")
    after = ca.check_output("openssl crl -in %s/issuing/crl.pem -noout -crlnumber", CA_DIR)
    assert before != after
    published = ca.check_output(
        "openssl crl -inform DER -in /var/www/pdic-ca/issuing.crl -noout -crlnumber"
    )
    assert published == after


@pytest.mark.parametrize("name", HOSTS)
def test_issued_certificate_is_in_the_ca_database(connect, name: str) -> None:  # type: ignore[no-untyped-def]
    serial = _serial(connect(name))
    index = connect(CA).check_output("cat %s/issuing/index.txt", CA_DIR)
    assert any(
        line.split("\t")[0] == "V" and line.split("\t")[3] == serial for line in index.splitlines()
    ), f"{serial} not valid in index.txt:\n{index}"


def test_certificate_with_two_days_left_is_renewed_and_others_are_not(connect) -> None:  # type: ignore[no-untyped-def]
    short, untouched = connect("db-2"), connect("db-1")
    ca = connect(CA)
    untouched_serial = _serial(untouched)
    recorded_serial = _serial(short)
    # A certificate for db-2's own key, signed by the issuing CA, with 2 days left.
    csr = short.check_output(
        "openssl req -new -key /etc/pdic/pki/host.key -subj /CN=db-2.%s -addext %s",
        DOMAIN,
        f"subjectAltName=DNS:db-2.{DOMAIN},DNS:db-2",
    )
    _put(ca, "/tmp/pdic-test-db-2.csr", csr + "\n")
    cert = ca.check_output(
        "openssl x509 -req -in /tmp/pdic-test-db-2.csr -days 2 -copy_extensions copy "
        "-CA %s/issuing/ca.crt -CAkey %s/issuing/private/ca.key 2>/dev/null",
        CA_DIR,
        CA_DIR,
    )
    ca.run("rm -f /tmp/pdic-test-db-2.csr")
    _put(short, "/etc/pdic/pki/host.crt", cert + "\n")
    assert (
        short.run("openssl x509 -in /etc/pdic/pki/host.crt -noout -checkend %s", str(3 * 86400)).rc
        != 0
    )
    short_serial = _serial(short)

    run: Run = pdic("deploy", "--limit", "db-1,db-2", "--tags", "pki")
    assert run.returncode == 0, run
    result = recap(run.stdout)
    assert result["db-2"]["changed"] > 0, run.stdout
    assert result["db-1"]["changed"] == 0, run.stdout

    assert _serial(short) != short_serial
    assert (
        short.run(
            "openssl x509 -in /etc/pdic/pki/host.crt -noout -checkend %s", str(300 * 86400)
        ).rc
        == 0
    )
    assert _serial(untouched) == untouched_serial
    # The renewed certificate verifies and is recorded; the next deploy leaves it alone.
    assert (
        short.run("openssl verify -untrusted %s %s", *["/etc/pdic/pki/host.fullchain.pem"] * 2).rc
        == 0
    )
    test_issued_certificate_is_in_the_ca_database(connect, "db-2")
    # The certificate the CA had recorded for db-2:host is superseded: revoked, on the CRL.
    assert _index_status(ca, recorded_serial) == "R"
    crl = ca.check_output("openssl crl -in /var/www/pdic-ca/issuing.crl.pem -noout -text")
    assert re.search(
        rf"Serial Number: {recorded_serial}\s+Revocation Date:.*\n\s+CRL entry extensions:"
        r"\s+X509v3 CRL Reason Code:\s+Superseded",
        crl,
    ), crl
    again = pdic("deploy", "--limit", "db-2", "--tags", "pki")
    assert again.returncode == 0, again
    assert recap(again.stdout)["db-2"]["changed"] == 0, again.stdout


def test_root_crl_is_published_and_the_whole_chain_passes_a_crl_check(connect) -> None:  # type: ignore[no-untyped-def]
    client = connect("mail-1")
    for name in ("root", "issuing"):
        client.check_output(
            "curl -fsS %s | openssl crl -inform DER -out /tmp/pdic-test-%s.crl.pem",
            f"http://{CA}.{DOMAIN}/{name}.crl",
            name,
        )
    root_crl = client.check_output("openssl crl -in /tmp/pdic-test-root.crl.pem -noout -issuer")
    assert PKI["pki_ca_root"]["common_name"] in root_crl, root_crl
    # The issuing CA's certificate points at the root's CRL.
    issuing = client.check_output(
        "curl -fsS %s | openssl x509 -noout -ext crlDistributionPoints",
        f"http://{CA}.{DOMAIN}/issuing.crt",
    )
    assert f"http://{CA}.{DOMAIN}/root.crl" in issuing, issuing
    check = _verify_host_certificate(
        client, "-crl_check_all", "/tmp/pdic-test-root.crl.pem", "/tmp/pdic-test-issuing.crl.pem"
    )
    assert check.rc == 0, check.stdout + check.stderr
    client.run("rm -f /tmp/pdic-test-root.crl.pem /tmp/pdic-test-issuing.crl.pem")


def _revoke_with_the_ca_freezing(target: str, reason: str) -> str:
    """Revoke ``target`` with ca-1 frozen as the revocation is sent; the command printed to
    finish it (checked: the run said the state is unknown and ended within its deadline)."""
    from pdic.connect import testinfra_host
    from pdic.lab import freeze_host
    from pdic.pki.revoke import RevokeUncertain, revoke

    class Freezing:
        def __init__(self, target) -> None:  # type: ignore[no-untyped-def]
            self.target = target

        def run(self, command: str, *args: str):  # type: ignore[no-untyped-def]
            if command != "true":  # pdic's first command only opens the session
                freeze_host(CA, True)
            return self.target.run(command, *args)

    started = time.monotonic()
    try:
        with pytest.raises(RevokeUncertain) as uncertain:
            revoke(
                load_inventory(INVENTORY),
                target,
                reason,
                lambda host: Freezing(testinfra_host(host, deadline=10)),
            )
    finally:
        freeze_host(CA, False)
    took = time.monotonic() - started
    said = str(uncertain.value).splitlines()
    assert took < 30, f"the revocation took {took:.0f} s with {CA} frozen"
    assert said[0].startswith(f"{target}: {CA} stopped answering once the revocation was sent")
    assert said[0].endswith("may or may not list it as revoked, and the CRL may not be published")
    assert said[-1].startswith("to finish: `") and said[-1].endswith(f"once {CA} answers (it "
        "revokes it, or says it already is, and publishes the CRL)"), said  # fmt: skip
    return said[-1].split("`")[1]


def test_revoked_certificate_is_rejected_elsewhere_and_reissued_by_the_next_deploy(connect) -> None:  # type: ignore[no-untyped-def]
    name, verifier, ca = "hcc-1", connect("eoffice-1"), connect(CA)
    target = connect(name)
    serial = _serial(target)
    _put(
        verifier,
        f"/tmp/pdic-test-{name}.fullchain.pem",
        target.file("/etc/pdic/pki/host.fullchain.pem").content_string,
    )
    rc, out = _crl_check(verifier, name)
    assert rc == 0, out

    # ca-1 hangs once the revocation is sent (frozen after a first command on the connection):
    # pdic ends within its deadline, says the state is not known, and prints the command that
    # finishes it, whatever the CA did once thawed.
    command = _revoke_with_the_ca_freezing(f"{name}:host", "keyCompromise")
    assert command == f"pdic cert revoke {name}:host --reason keyCompromise"
    run = pdic(*command.split()[1:])
    assert run.returncode == 0, run
    assert serial in run.stdout, run.stdout
    assert _index_status(ca, serial) == "R"
    # Published at once: the CRL served over HTTP now lists the serial, with its reason.
    text = verifier.check_output("curl -fsS %s | openssl crl -inform DER -noout -text", CRL_URL)
    assert re.search(
        rf"Serial Number: {serial}\s+Revocation Date:.*\n\s+CRL entry extensions:"
        r"\s+X509v3 CRL Reason Code:\s+Key Compromise",
        text,
    ), text
    rc, out = _crl_check(verifier, name)
    assert rc != 0 and "certificate revoked" in out, out

    # The register says so; revoking again says it already is.
    listed = pdic("cert", "list", "--limit", name, "--format", "json")
    assert listed.returncode == 0, listed
    (entry,) = [e for e in json.loads(listed.stdout) if e["path"] == "/etc/pdic/pki/host.crt"]
    assert (entry["serial"], entry["revoked"]) == (serial, True)
    again = pdic("cert", "revoke", f"{name}:host", "--reason", "keyCompromise")
    assert again.returncode == 0 and "already revoked" in again.stdout, again

    # The next deploy issues a new certificate, which passes the CRL check.
    deploy = pdic("deploy", "--limit", name, "--tags", "pki")
    assert deploy.returncode == 0, deploy
    assert recap(deploy.stdout)[name]["changed"] > 0, deploy.stdout
    assert _serial(target) != serial
    _put(
        verifier,
        f"/tmp/pdic-test-{name}.fullchain.pem",
        target.file("/etc/pdic/pki/host.fullchain.pem").content_string,
    )
    rc, out = _crl_check(verifier, name)
    assert rc == 0, out
    verifier.run("rm -f /tmp/pdic-test-%s.fullchain.pem /tmp/pdic-test-now.crl.pem", name)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("hcc-1:nothing", "--reason", "superseded"), "issued no certificate hcc-1:nothing"),
        (("nohost:host", "--reason", "superseded"), "no host 'nohost'"),
        (("hcc-1:host", "--reason", "tired"), "--reason: 'tired' is not one of"),
        (("hcc-1", "--reason", "superseded"), "expected HOST:NAME"),
    ],
)
def test_revoke_refuses_bad_input(connect, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    ca = connect(CA)
    before = ca.check_output("sha256sum %s/issuing/index.txt", CA_DIR)
    run = pdic("cert", "revoke", *args)
    assert run.returncode == 2, run
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert ca.check_output("sha256sum %s/issuing/index.txt", CA_DIR) == before


ORG_DIR = "/etc/pdic/org-signing"


@pytest.fixture
def hand_placed_certificates(connect):  # type: ignore[no-untyped-def]
    """Two organisation signing certificates placed by hand on eoffice-1, signed by the national
    stand-in root on ca-1 (not by pdic's CA): one with 10 days left, one with 60."""
    ca, eoffice = connect(CA), connect("eoffice-1")
    eoffice.check_output("install -d -m 0755 %s", ORG_DIR)
    placed = {}
    for name, days in (("so-tu-phap", 10), ("so-noi-vu", 60)):
        ca.check_output(
            "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
            "-keyout /tmp/pdic-test-%s.key -subj %s -out /tmp/pdic-test-%s.csr 2>/dev/null",
            name,
            f"/O=Lab province/OU={name}/CN={name} signing",
            name,
        )
        pem = ca.check_output(
            "openssl x509 -req -in /tmp/pdic-test-%s.csr -days %s -CA %s/national/ca.crt "
            "-CAkey %s/national/private/ca.key 2>/dev/null",
            name,
            str(days),
            CA_DIR,
            CA_DIR,
        )
        ca.run("rm -f /tmp/pdic-test-%s.key /tmp/pdic-test-%s.csr", name, name)
        path = f"{ORG_DIR}/{name}.crt"
        _put(eoffice, path, pem + "\n")
        placed[path] = days
    yield placed
    eoffice.run("rm -rf %s", ORG_DIR)


def test_cert_list_reads_every_host_and_hand_placed_certificates(
    connect, hand_placed_certificates
) -> None:  # type: ignore[no-untyped-def]
    run = pdic("cert", "list", "--format", "json")
    assert run.returncode == 0, run
    entries = json.loads(run.stdout)
    by_place = {(e["host"], e["path"]): e for e in entries}
    for name in HOSTS:
        entry = by_place[(name, "/etc/pdic/pki/host.crt")]
        assert entry["serial"] == _serial(connect(name))
        assert f"{name}.{DOMAIN}" in entry["sans"] and entry["revoked"] is False
        assert entry["issuer"] == f"CN={PKI['pki_ca_issuing']['common_name']},O={CENTRE}"
    # The CA certificates on ca-1, and the hand-placed organisation certificates.
    assert (CA, f"{CA_DIR}/root/ca.crt") in by_place
    for path, days in hand_placed_certificates.items():
        entry = by_place[("eoffice-1", path)]
        assert "National Specialised" in entry["issuer"]
        assert entry["days_left"] in (days - 1, days)
        assert entry["revoked"] is None  # no CRL of the national root is read

    # Exactly the expiring ones: the 10-day certificate, not the 60-day one nor pdic's.
    expiring = pdic("cert", "list", "--expiring", "30d", "--format", "json")
    assert expiring.returncode == 0, expiring
    expected = sorted((e["host"], e["path"]) for e in entries if e["days_left"] < 30)
    assert expected == [("eoffice-1", f"{ORG_DIR}/so-tu-phap.crt")]
    assert sorted((e["host"], e["path"]) for e in json.loads(expiring.stdout)) == expected

    # CSV and table carry the same rows.
    csv_run = pdic("cert", "list", "--expiring", "30d", "--format", "csv")
    assert csv_run.stdout.splitlines()[0].startswith("host,path,subject,sans,issuer,serial")
    assert len(csv_run.stdout.splitlines()) == 2
    table = pdic("cert", "list", "--limit", "eoffice-1")
    assert "so-noi-vu" in table.stdout and "so-tu-phap" in table.stdout, table.stdout

    # Each organisation certificate carries the agency its pdic_certificate_files entry names;
    # --agency lists that agency's: its organisation certificate and its site's.
    assert by_place[("eoffice-1", f"{ORG_DIR}/so-tu-phap.crt")]["agency"] == "so-tu-phap"
    assert by_place[(CA, f"{CA_DIR}/root/ca.crt")]["agency"] == ""
    own = pdic("cert", "list", "--agency", "so-tu-phap", "--format", "json")
    assert own.returncode == 0, own
    assert sorted((e["host"], e["path"]) for e in json.loads(own.stdout)) == [
        ("eoffice-1", f"{ORG_DIR}/so-tu-phap.crt"),
        ("portal-1", "/etc/pdic/pki/site-sotuphap.crt"),
    ]
