"""The exporter runs on the hosts as the pdic_exporter role installs it: the modules the role
copies, Debian 12's python3 and its python3-prometheus-client (0.16), python3-cryptography (38)
and python3-yaml (6.0).

Two layers: the fallbacks of :mod:`pdic.exporter.pki` for cryptography before 39/42 are tested
here on objects shaped like the old API (always); and the copied modules are run with
``/usr/bin/python3`` when it has Debian's libraries (skipped otherwise, an error under ``CI``:
scripts/setup installs them).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pdic.exporter import pki

from .conftest import DAY, MakeCert, MakeCrl, pem, write

REPO = Path(__file__).resolve().parents[3]
ROLE_VARS = REPO / "roles" / "pdic_exporter" / "vars" / "main.yml"
DEBIAN_PYTHON = "/usr/bin/python3"
# In the order _debian_python prints them.
DEBIAN_VERSIONS = {"cryptography": "38", "prometheus_client": "0.16", "yaml": "6.0"}


def test_old_cryptography_without_load_pem_x509_certificates(
    monkeypatch: pytest.MonkeyPatch, make_cert: MakeCert
) -> None:
    now = dt.datetime.now(dt.UTC).timestamp()
    data = pem(make_cert("a.example", now - DAY, now + 3 * DAY), make_cert("b.example", 0, now))
    monkeypatch.delattr(x509, "load_pem_x509_certificates")
    certs = pki.parse_certificates(data)
    assert [c.subject.split(",")[0] for c in certs] == ["CN=a.example", "CN=b.example"]
    with pytest.raises(ValueError, match="No certificate"):
        pki.parse_certificates(b"-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n")


def test_naive_datetimes_of_old_cryptography_are_utc() -> None:
    naive = dt.datetime(2026, 1, 2, 3, 4, 5)
    old = SimpleNamespace(not_valid_after=naive, next_update=None)
    utc = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp()
    assert pki._utc_timestamp(old, "not_valid_after") == utc
    assert pki._utc_timestamp(old, "next_update") is None
    new = SimpleNamespace(next_update_utc=None, next_update=naive)
    assert pki._utc_timestamp(new, "next_update") is None


def _debian_python() -> str:
    probe = (
        "import cryptography, prometheus_client, yaml, importlib.metadata as m;"
        "print(cryptography.__version__, m.version('prometheus_client'), yaml.__version__)"
    )
    if Path(DEBIAN_PYTHON).is_file():
        result = subprocess.run(
            [DEBIAN_PYTHON, "-s", "-c", probe], capture_output=True, text=True, check=False
        )
        if result.returncode == 0:
            return result.stdout.strip()
    if os.environ.get("CI"):
        pytest.fail("/usr/bin/python3 lacks python3-cryptography, -prometheus-client or -yaml")
    pytest.skip("/usr/bin/python3 lacks Debian's python3-cryptography, -prometheus-client or -yaml")


def _install_like_the_role(dest: Path) -> Path:
    files = yaml.safe_load(ROLE_VARS.read_text(encoding="utf-8"))["_pdic_exporter_files"]
    for rel in files:
        target = dest / "pdic" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / "src" / "pdic" / rel).read_bytes())
    return dest


def test_the_copied_modules_run_with_debians_libraries(
    tmp_path: Path, make_cert: MakeCert, make_crl: MakeCrl
) -> None:
    versions = _debian_python()
    if os.environ.get("CI"):
        for found, wanted in zip(versions.split(), DEBIAN_VERSIONS.values(), strict=True):
            assert found.startswith(wanted), versions
    now = dt.datetime.now(dt.UTC).timestamp()
    cert = write(tmp_path / "host.crt", pem(make_cert("host.example", now - DAY, now + 10 * DAY)))
    crl = make_crl(now - DAY, now + 6 * DAY)
    crl_file = write(tmp_path / "issuing.crl", crl.public_bytes(serialization.Encoding.DER))
    config = tmp_path / "exporter.yml"
    config.write_text(
        yaml.safe_dump(
            {"collectors": {"certificates": {"paths": [cert]}, "crls": {"paths": [crl_file]}}}
        ),
        encoding="utf-8",
    )
    lib = _install_like_the_role(tmp_path / "lib")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(lib), "PYTHONDONTWRITEBYTECODE": "1"}
    base = [DEBIAN_PYTHON, "-s", "-m", "pdic.exporter", "--config", str(config)]

    check = subprocess.run(
        [*base, "--check-config"], env=env, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr
    once = subprocess.run([*base, "--once"], env=env, capture_output=True, text=True, check=False)
    assert once.returncode == 0, once.stderr

    values = {}
    for line in once.stdout.splitlines():
        if line.startswith(("pdic_cert_expiry_seconds{", "pdic_crl_next_update_seconds{")):
            values[line.split("{")[0]] = float(line.rsplit(" ", 1)[1])
    assert values["pdic_cert_expiry_seconds"] == pytest.approx(10 * DAY, abs=120)
    assert values["pdic_crl_next_update_seconds"] == pytest.approx(6 * DAY, abs=120)
