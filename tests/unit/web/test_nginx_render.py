"""The nginx role's site file, rendered from the lab inventory as playbooks/web.yml configures
the role, passes ``nginx -t`` in a whole configuration and says what the design asks.

``playbooks/render.yml`` renders it on the controller with the role's defaults, vars, preflight
and template, and the role variables web.yml passes (read from web.yml itself, so the test
follows the playbook); certificates are throw-away ones in a temporary directory. The role's
own check script (``pdic-nginx-check``) then runs nginx -t on a copy of Debian's nginx
configuration with the rendered file in conf.d. nginx comes from ``PDIC_NGINX``, else
``/usr/sbin/nginx``, else the copy scripts/setup unpacks under ``.venv/nginx``; without one the
nginx -t cases are skipped (an error under ``CI``).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(__file__).parent / "playbooks" / "render.yml"
LAB = REPO / "inventory" / "lab"
CHECK = REPO / "roles" / "nginx" / "files" / "usr" / "local" / "sbin" / "pdic-nginx-check"
SITES = yaml.safe_load((LAB / "group_vars" / "all" / "province.yml").read_text(encoding="utf-8"))[
    "portal_sites"
]


def _nginx_root() -> Path | None:
    """A directory holding usr/sbin/nginx and etc/nginx (an installed or unpacked nginx)."""
    candidates = [os.environ.get("PDIC_NGINX_ROOT", ""), "/", str(REPO / ".venv" / "nginx")]
    for root in filter(None, candidates):
        if (Path(root) / "usr/sbin/nginx").is_file() and (Path(root) / "etc/nginx").is_dir():
            return Path(root)
    return None


def _self_signed(directory: Path, names: list[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "render test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    for name in names:
        (directory / f"{name}.key").write_bytes(key_pem)
        (directory / f"{name}.fullchain.pem").write_bytes(cert_pem)


def web_role_vars() -> dict[str, Any]:
    """The variables playbooks/web.yml gives the nginx role (play vars and role vars)."""
    (play,) = yaml.safe_load((REPO / "playbooks" / "web.yml").read_text(encoding="utf-8"))
    (role,) = [r for r in play["roles"] if r["role"] == "nginx"]
    return {**play.get("vars", {}), **role.get("vars", {})}


def render(
    inventory: Path,
    out: Path,
    tls: Path,
    *,
    playbook: Path = PLAYBOOK,
    role_vars: dict[str, Any] | None = None,
    **overrides: Any,
) -> subprocess.CompletedProcess[str]:
    """Run the render ``playbook`` (this one's by default) with ``role_vars`` (web.yml's by
    default), certificates from ``tls``, logs and output under ``out``."""
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_CACHE_PLUGIN": "memory",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_NOCOLOR": "1",
    }
    extra = {
        **(web_role_vars() if role_vars is None else role_vars),
        "out": str(out),
        "nginx_tls_dir": str(tls),
        "nginx_log_dir": str(out / "log"),
        **overrides,
    }
    extra_file = out / "extra.json"
    extra_file.write_text(json.dumps(extra), encoding="utf-8")
    return subprocess.run(
        [str(ansible_playbook), "-i", str(inventory), str(playbook), "-e", f"@{extra_file}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tls")
    _self_signed(directory, [f"site-{s['name']}" for s in SITES] + ["site-xamot", "host"])
    return directory


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, tls: Path) -> Path:
    out = tmp_path_factory.mktemp("render")
    (out / "log").mkdir()
    result = render(LAB, out, tls)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / "portal-1.conf"


def nginx_check(site_file: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """pdic-nginx-check on a copy of Debian's configuration with ``site_file`` in conf.d (its
    log and temporary paths moved under ``tmp_path``: nginx -t opens and creates them)."""
    root = _nginx_root()
    if root is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not available (scripts/setup unpacks it); required under CI")
        pytest.skip("nginx is not available")
    conf = tmp_path / "etc-nginx"
    shutil.copytree(root / "etc" / "nginx", conf, symlinks=True)
    logs = tmp_path / "log"
    logs.mkdir(exist_ok=True)
    main = conf / "nginx.conf"
    temp = "".join(
        f"\t{kind}_temp_path {tmp_path}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = (
        main.read_text().replace("/var/log/nginx/", f"{logs}/").replace("/etc/nginx/", f"{conf}/")
    )
    main.write_text(text.replace("http {\n", "http {\n" + temp, 1))
    wrapper = tmp_path / "nginx"
    wrapper.write_text(f'#!/bin/sh\nexec {root}/usr/sbin/nginx -e {logs}/error.log "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "PDIC_NGINX_CONF_DIR": str(conf), "PDIC_NGINX": str(wrapper)}
    return subprocess.run(
        ["/bin/sh", str(CHECK), str(site_file), f"{conf}/conf.d/pdic-sites.conf"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _servers(text: str) -> list[str]:
    """The server blocks of a rendered file, as text."""
    return re.findall(r"(?ms)^server \{\n.*?^\}\n", text)


def test_nginx_accepts_the_rendered_sites(rendered: Path, tmp_path: Path) -> None:
    result = nginx_check(rendered, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_refuses_a_broken_candidate(rendered: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.conf"
    broken.write_text(rendered.read_text().replace("limit_req_status 429;", "limit_req_status;", 1))
    result = nginx_check(broken, tmp_path)
    assert result.returncode != 0
    assert "limit_req_status" in result.stderr


def test_every_site_has_an_https_server_with_its_own_certificate(rendered: Path) -> None:
    servers = _servers(rendered.read_text())
    assert len(SITES) == 27
    for site in SITES:
        https = [s for s in servers if f"server_name {site['hostname']};" in s and "443" in s]
        assert len(https) == 1, site["name"]
        (block,) = https
        assert f"/site-{site['name']}.fullchain.pem;" in block
        assert f"/site-{site['name']}.key;" in block
        assert "ssl_protocols TLSv1.2 TLSv1.3;" in block
        assert f"pdic-site-{site['name']}.access.log;" in block
        assert f"pdic-site-{site['name']}.error.log;" in block
        assert f"limit_req zone=pdic_limit_{site['name']} burst=40 nodelay;" in block
        assert "client_max_body_size 1m;" in block
        for header in (
            "Strict-Transport-Security",
            "X-Content-Type-Options",
            "X-Frame-Options",
            "Referrer-Policy",
            "Content-Security-Policy",
        ):
            assert f"add_header {header} " in block, (site["name"], header)


def test_http_redirects_to_https(rendered: Path) -> None:
    servers = _servers(rendered.read_text())
    for site in SITES:
        (http,) = [
            s for s in servers if f"server_name {site['hostname']};" in s and "listen 80;" in s
        ]
        assert f"return 301 https://{site['hostname']}$request_uri;" in http


def test_the_generated_page_names_the_site_and_its_agency(rendered: Path) -> None:
    text = rendered.read_text()
    assert "<h1>Cổng thông tin điện tử Sở Tư pháp tỉnh Thái Bình</h1>" in text
    assert "<p>Sở Tư pháp</p>" in text
    assert "<p>Ủy ban nhân dân huyện Vũ Thư</p>" in text


def test_unknown_names_get_the_host_certificate_and_are_closed(rendered: Path) -> None:
    (http, https) = _servers(rendered.read_text())[-2:]
    assert "listen 80 default_server;" in http and "return 444;" in http
    assert "listen 443 ssl http2 default_server;" in https and "return 444;" in https
    assert "/host.fullchain.pem;" in https
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in https


def test_site_limits_maintenance_and_escaping_come_from_the_inventory(
    tls: Path, tmp_path: Path
) -> None:
    inv = tmp_path / "lab"
    shutil.copytree(LAB, inv)
    province_file = inv / "group_vars" / "all" / "province.yml"
    province = yaml.safe_load(province_file.read_text(encoding="utf-8"))
    province["portal_sites"][0].update(
        rate_limit="600r/m", rate_burst=5, body_size="20m", maintenance=True
    )
    province["portal_sites"].append(
        {
            "name": "xamot",
            "hostname": "xamot.lab.pdic.internal",
            "agency": "huyen-mau-xa-mot",
            "title": 'Xã "Một" <$uri> \\ ok',
        }
    )
    province_file.write_text(yaml.safe_dump(province, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "out"
    (out / "log").mkdir(parents=True)
    result = render(inv, out, tls)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    text = (out / "portal-1.conf").read_text()
    first = SITES[0]["name"]
    assert f"zone=pdic_limit_{first}:1m rate=600r/m;" in text
    assert f"limit_req zone=pdic_limit_{first} burst=5 nodelay;" in text
    assert "client_max_body_size 20m;" in text
    (block,) = [
        s for s in _servers(text) if f"server_name {SITES[0]['hostname']};" in s and "443" in s
    ]
    assert "location / {\n        return 503;" in block
    assert "@pdic_front" not in block
    assert "Xã &quot;Một&quot; &lt;&#36;uri&gt; &#92; ok" in text
    assert len([s for s in _servers(text) if "xamot.lab.pdic.internal" in s]) == 2
    check = nginx_check(out / "portal-1.conf", tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


def test_exempt_networks_are_not_rate_limited(rendered: Path, tls: Path, tmp_path: Path) -> None:
    # The lab exempts its control machine: that network gets an empty key, which nginx does
    # not count. The zones' key is the same with or without a list (nginx refuses a changed
    # key at reload and keeps the old configuration).
    lab = rendered.read_text()
    assert "geo $pdic_rate_exempt {\n    default 0;\n    10.251.0.1/32 1;\n}\n" in lab
    assert '    1 "";\n    default $binary_remote_addr;' in lab
    for networks, geo in (
        ([], "geo $pdic_rate_exempt {\n    default 0;\n}\n"),
        (["2001:db8::/64"], "geo $pdic_rate_exempt {\n    default 0;\n    2001:db8::/64 1;\n}\n"),
    ):
        out = tmp_path / f"out{len(networks)}"
        (out / "log").mkdir(parents=True)
        result = render(LAB, out, tls, nginx_rate_limit_exempt=networks)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        text = (out / "portal-1.conf").read_text()
        assert geo in text
        zones = re.findall(r"(?m)^limit_req_zone (\S+) zone=", text)
        assert len(zones) == len(SITES) and set(zones) == {"$pdic_rate_key"}
        check = nginx_check(out / "portal-1.conf", tmp_path / f"check{len(networks)}")
        assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rate_limit": "20r/h"}, "rate_limit like 20r/s or 600r/m (got '20r/h')"),
        ({"body_size": "10MB"}, "body_size a number with k, m or g (got '10MB')"),
        ({"tls": {"certificate": "/etc/ssl/x.pem"}}, "a site needs a certificate source"),
    ],
)
def test_bad_site_input_fails_in_preflight(
    tls: Path, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    sites = [dict(SITES[0], **change)]
    out = tmp_path / "out"
    out.mkdir()
    result = render(LAB, out, tls, portal_sites=sites)
    assert result.returncode != 0
    assert message in result.stdout


def test_a_missing_certificate_fails_in_preflight(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = render(LAB, out, tmp_path)
    assert result.returncode != 0
    assert "no certificate for some sites, missing:" in result.stdout
    assert f"{tmp_path}/site-{SITES[0]['name']}.fullchain.pem" in result.stdout


def test_every_bad_input_is_named_in_one_message(tls: Path, tmp_path: Path) -> None:
    """The role checks all its input in one assertion: two bad sites and a bad default are
    reported together, one line, each naming its variable; the certificates are not looked
    for until the sites are well formed."""
    sites = [dict(SITES[0], rate_limit="20r/h"), dict(SITES[1], body_size="10MB"), *SITES[2:]]
    out = tmp_path / "out"
    out.mkdir()
    result = render(LAB, out, tls, portal_sites=sites, nginx_frame_options="ALLOWALL")
    assert result.returncode != 0
    (fatal,) = [line for line in result.stdout.splitlines() if line.startswith("fatal: [")]
    message = json.loads(fatal.split(" => ", 1)[1])["msg"]
    assert f"nginx_sites[{SITES[0]['name']}]: name must be a slug" in message
    assert "rate_limit like 20r/s or 600r/m (got '20r/h')" in message
    assert f"; nginx_sites[{SITES[1]['name']}]: name must be a slug" in message
    assert "body_size a number with k, m or g (got '10MB')" in message
    assert "; nginx_rate_limit must be like 20r/s or 600r/m" in message
    assert "nginx_frame_options DENY or SAMEORIGIN" in message
    assert "no certificate" not in message


def test_two_sites_with_one_hostname_fail_in_preflight(tls: Path, tmp_path: Path) -> None:
    sites = [SITES[0], dict(SITES[1], hostname=SITES[0]["hostname"]), *SITES[2:]]
    out = tmp_path / "out"
    out.mkdir()
    result = render(LAB, out, tls, portal_sites=sites)
    assert result.returncode != 0
    assert "nginx_sites: duplicate site name or hostname among" in result.stdout
