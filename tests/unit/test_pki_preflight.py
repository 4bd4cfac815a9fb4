"""Bad PKI input fails in the roles' preflight, before anything changes, naming the variable.

Runs the preflight tasks of pki_cert and pki_ca with ansible-playbook on the controller
(connection local, no facts): the assertions, and for pki_cert the read of the authority's
chain, which here is a throw-away CA written to a temporary directory. It does not sign
anything or touch a host: what the roles do on hosts is for tests/lab/test_40_pki.py.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
CA_DAYS_LEFT = 100


def _ca_chain(days: int) -> str:
    """PEM of a self-signed CA certificate valid for ``days`` more days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "preflight test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pki") / "chain.pem"
    path.write_text(_ca_chain(CA_DAYS_LEFT))
    return path


def _run(
    role: str,
    variables: dict[str, Any],
    tmp_path: Path,
    inventory: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    tasks: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """The role's preflight tasks on localhost (connection local, no facts). ``inventory``: an
    inventory (YAML structure) holding localhost, for roles that read groups; ``environ``: more
    environment for ansible-playbook (and so for commands run on localhost); ``tasks``: the
    play's tasks instead (YAML, indented as a play's), e.g. a test's render of a template."""
    playbook = tmp_path / "preflight.yml"
    playbook.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        + (
            tasks
            or f"    - ansible.builtin.import_role:\n        name: {role}\n"
            "        tasks_from: preflight\n"
        )
    )
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps(variables))
    hosts = "localhost,"
    if inventory is not None:
        hosts = str(tmp_path / "inventory.json")  # JSON is YAML: the yaml inventory plugin reads it
        Path(hosts).write_text(json.dumps(inventory))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_CACHE_PLUGIN": "memory",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        **(environ or {}),
    }
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", hosts, str(playbook), "-e", f"@{extra}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _assert_fails_saying(run: subprocess.CompletedProcess[str], *expected: str) -> None:
    """The play failed, and its output (whitespace folded) holds every expected text."""
    output = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0, output
    for text in expected:
        assert text in output, f"{text!r} not in: {output}"


def _cert_vars(chain: Path, **entry: Any) -> dict[str, Any]:
    certificate = {"name": "web", "common_name": "web.example.internal", "sans": ["web"]}
    certificate.update(entry)
    return {
        "ansible_python_interpreter": sys.executable,
        "pki_cert_certificates": [certificate],
        "pki_cert_authorities": [
            {
                "name": "test-issuing",
                "host": "localhost",
                "cert": "/nonexistent/ca.crt",
                "key": "/nonexistent/ca.key",
                "chain": str(chain),
                "key_types": ["ecdsa-p256", "rsa-3072"],
                "max_lifetime_days": 397,
                "crl_url": "http://ca.example.internal/issuing.crl",
                "record": "/nonexistent/record",
            }
        ],
    }


def test_good_certificate_passes(chain: Path, tmp_path: Path) -> None:
    run = _run("pki_cert", _cert_vars(chain, lifetime_days=90), tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            {"sans": ["web", "bad_name.example.internal"]},
            ["pki_cert_certificates[web].common_name/sans", "bad_name.example.internal"],
            id="san-not-a-dns-name",
        ),
        pytest.param(
            {"common_name": "Web.Example.internal"},
            ["pki_cert_certificates[web].common_name/sans", "Web.Example.internal"],
            id="common-name-not-lowercase",
        ),
        pytest.param(
            {"lifetime_days": 400},
            ["pki_cert_certificates[web].lifetime_days", "max_lifetime_days 397"],
            id="lifetime-beyond-ca-policy",
        ),
        pytest.param(
            {"lifetime_days": CA_DAYS_LEFT + 50},
            ["pki_cert_certificates[web].lifetime_days", "days left"],
            id="lifetime-beyond-ca-certificate",
        ),
        pytest.param(
            {"key_type": "rsa-4096"},
            ["pki_cert_certificates[web].key_type", "refuses 'rsa-4096'"],
            id="key-type-refused",
        ),
        pytest.param(
            {"ca": "nosuch-ca"},
            ["pki_cert_certificates[web].ca", "unknown CA 'nosuch-ca'", "test-issuing"],
            id="unknown-ca",
        ),
        pytest.param(
            {"name": "Web Server"},
            ["pki_cert_certificates", "a slug"],
            id="name-not-a-slug",
        ),
    ],
)
def test_bad_certificate_fails_naming_the_variable(
    chain: Path, tmp_path: Path, entry: dict[str, Any], expected: list[str]
) -> None:
    run = _run("pki_cert", _cert_vars(chain, **entry), tmp_path)
    _assert_fails_saying(run, *expected)


def test_certificates_without_an_authority_fail(chain: Path, tmp_path: Path) -> None:
    variables = {**_cert_vars(chain), "pki_cert_authorities": []}
    _assert_fails_saying(_run("pki_cert", variables, tmp_path), "pki_cert_authorities must list")


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        pytest.param(
            {"pki_ca_issuing": {"lifetime_days": 9000}},
            "pki_ca_issuing.lifetime_days (9000) must not exceed pki_ca_root.lifetime_days",
            id="issuing-outlives-root",
        ),
        pytest.param(
            {"pki_ca_root": {"key_type": "dsa-1024"}},
            "pki_ca_root: name must be a slug",
            id="root-key-type-unknown",
        ),
        pytest.param(
            {"pki_ca_issuing": {"cert_key_types": ["ed448"]}},
            "pki_ca_issuing.cert_key_types must list key types",
            id="issuing-accepts-unknown-key-type",
        ),
        pytest.param(
            {"pki_ca_crl_days": 1}, "pki_ca_crl_days must be at least 2", id="crl-too-short"
        ),
        pytest.param(
            {"pki_ca_root_crl_days": 0},
            "pki_ca_root_crl_days must be at least 2",
            id="root-crl-too-short",
        ),
        pytest.param(
            {"pki_ca_root_crl_url": "ftp://ca-1/root.crl"},
            "pki_ca_root_crl_url",
            id="root-crl-url-not-http",
        ),
    ],
)
def test_bad_ca_input_fails_naming_the_variable(
    tmp_path: Path, variables: dict[str, Any], expected: str
) -> None:
    defaults = {
        "pki_ca_root": {
            "name": "r",
            "common_name": "R",
            "key_type": "ecdsa-p256",
            "lifetime_days": 3650,
        },
        "pki_ca_issuing": {
            "name": "i",
            "common_name": "I",
            "key_type": "ecdsa-p256",
            "lifetime_days": 1825,
            "cert_key_types": ["ecdsa-p256"],
            "max_cert_lifetime_days": 397,
        },
    }
    merged = {k: {**defaults[k], **v} if k in defaults else v for k, v in variables.items()}
    run = _run("pki_ca", {**defaults, **merged}, tmp_path)
    _assert_fails_saying(run, expected)


@pytest.mark.parametrize(
    ("certificates", "expected"),
    [
        pytest.param(
            [{"name": "pdic-root", "content": "not a certificate"}],
            "pki_trust_certificates: entry 'pdic-root' must have a name",
            id="content-not-pem",
        ),
        pytest.param(
            [{"name": "Root CA", "content": "-----BEGIN CERTIFICATE-----"}],
            "pki_trust_certificates: entry 'Root CA' must have a name (a slug)",
            id="name-not-a-slug",
        ),
        pytest.param(
            [{"name": "pdic-root", "content": "-----BEGIN CERTIFICATE-----"}] * 2,
            "pki_trust_certificates: names must be distinct, got pdic-root, pdic-root",
            id="names-not-distinct",
        ),
    ],
)
def test_bad_trust_input_fails_naming_the_variable(
    tmp_path: Path, certificates: list[dict[str, str]], expected: str
) -> None:
    run = _run("pki_trust", {"pki_trust_certificates": certificates}, tmp_path)
    _assert_fails_saying(run, expected)


def test_every_bad_trust_input_is_named_at_once(tmp_path: Path) -> None:
    certificates = [
        {"name": "pdic-root", "content": "not a certificate"},
        {"name": "national", "content": "-----BEGIN CERTIFICATE-----"},
    ]
    variables = {"pki_trust_certificates": certificates, "pki_trust_dir": "/etc/ssl/certs"}
    _assert_fails_saying(
        _run("pki_trust", variables, tmp_path),
        "pki_trust_certificates: entry 'pdic-root' must have a name (a slug) and content holding"
        " one PEM certificate; pki_trust_dir must be a directory directly under"
        " /usr/local/share/ca-certificates, got '/etc/ssl/certs'",
    )


def test_an_authority_without_a_host_is_named_not_read(chain: Path, tmp_path: Path) -> None:
    variables = _cert_vars(chain)
    del variables["pki_cert_authorities"][0]["host"]
    _assert_fails_saying(
        _run("pki_cert", variables, tmp_path),
        "pki_cert_authorities must list the signing authorities (name, host, cert, key, chain,",
    )
