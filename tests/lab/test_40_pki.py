"""Certificate services on the lab: the CA on ca-1, trust and certificates on every host.

Checks what issue 3 asks of the first slice: every host certificate verifies against the
internal root on another host (with the system trust store and with the root alone); the
root key is root-only and exists only on ca-1; the CRL is served over HTTP from ca-1 and read
from another host; the CRL timer is active and its service works; issued certificates are in
the CA's openssl database; a certificate with 2 days left is renewed by the next deploy and an
untouched one is not. Idempotence and --check are checked for the whole site in
test_30_idempotence.py.
"""

from __future__ import annotations

import datetime
import re

import pytest
import yaml
from conftest import INVENTORY, Run, pdic
from recap import recap

from pdic.inventory import load_inventory

HOSTS = sorted(load_inventory(INVENTORY).hosts)
CA = "ca-1"
PKI = yaml.safe_load((INVENTORY / "group_vars" / "all" / "pki.yml").read_text())
DOMAIN = yaml.safe_load((INVENTORY / "group_vars" / "all" / "centre.yml").read_text())[
    "pdic_domain"
]
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


def test_portal_certificate_names_every_portal_site(connect) -> None:  # type: ignore[no-untyped-def]
    portal = connect("portal-1")
    text = portal.check_output(
        "openssl x509 -in /etc/pdic/pki/portal-sites.crt -noout -ext subjectAltName"
    )
    sans = set(re.findall(r"DNS:([^,\s]+)", text))
    assert sans == {site["hostname"] for site in PORTAL_SITES}, text
    check = portal.run(
        "openssl verify -untrusted %s %s",
        "/etc/pdic/pki/portal-sites.fullchain.pem",
        "/etc/pdic/pki/portal-sites.fullchain.pem",
    )
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
    check = client.run(
        "openssl crl -inform DER -in /tmp/pdic-test.crl -out /tmp/pdic-test-crl.pem && "
        "openssl verify -crl_check -CRLfile /tmp/pdic-test-crl.pem -untrusted %s %s",
        "/etc/pdic/pki/host.fullchain.pem",
        "/etc/pdic/pki/host.fullchain.pem",
    )
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
    again = pdic("deploy", "--limit", "db-2", "--tags", "pki")
    assert again.returncode == 0, again
    assert recap(again.stdout)["db-2"]["changed"] == 0, again.stdout
