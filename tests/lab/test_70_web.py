"""The web tier on the lab: nginx on portal-1 serves the 27 component sites of the inventory.

From another host (mon-1, whose /etc/hosts names every site, as the blackbox probes use it):
each site answers over HTTPS with its own name in the certificate it sends for its name (SNI),
a chain that verifies against the centre's root alone, and a page naming the site; HTTP
redirects to HTTPS; TLS 1.0 and 1.1 are refused; the security headers are present; a name no
site has gets no page. On portal-1: the configuration passes nginx -t, a site added to the
inventory is served after a deploy of common, pki and web (--limit) and no other site's block
changes, and nginx is reloaded, not restarted (the master's pid stays); a configuration nginx
refuses at reload makes the role's reload fail with nginx's reason. Idempotence and
--check of the whole site are in test_30_idempotence.py.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import INVENTORY, pdic

from pdic.inventory import Inventory

PORTAL = "portal-1"
CLIENT = "mon-1"
PROVINCE = yaml.safe_load((INVENTORY / "group_vars" / "all" / "province.yml").read_text())
SITES = PROVINCE["portal_sites"]
AGENCIES = {a["id"]: a["name"] for a in PROVINCE["pdic_agencies"]}
PKI = yaml.safe_load((INVENTORY / "group_vars" / "all" / "pki.yml").read_text())
ROOT = f"/usr/local/share/ca-certificates/pdic/{PKI['pki_ca_root']['name']}.crt"
IDS = [s["name"] for s in SITES]
HEADERS = (
    "strict-transport-security: max-age=31536000",
    "x-content-type-options: nosniff",
    "x-frame-options: SAMEORIGIN",
    "referrer-policy: strict-origin-when-cross-origin",
    "content-security-policy: default-src 'self'",
)


def test_the_lab_serves_the_27_sites() -> None:
    assert len(SITES) == 27


@pytest.mark.parametrize("site", SITES, ids=IDS)
def test_site_answers_over_https_with_its_own_certificate(connect, site) -> None:  # type: ignore[no-untyped-def]
    client = connect(CLIENT, sudo=False)
    name = site["hostname"]
    # The certificate sent for this name: its CN and only SAN are the site's, and the chain
    # it sends verifies against the centre's root alone (not the system store).
    out = client.run(
        "openssl s_client -connect %s:443 -servername %s -CAfile %s -verify_return_error "
        "-verify_hostname %s </dev/null 2>&1 | openssl x509 -noout -subject -ext subjectAltName",
        name,
        name,
        ROOT,
        name,
    )
    assert out.rc == 0, out.stdout + out.stderr
    assert f"CN = {name}" in out.stdout and f"DNS:{name}" in out.stdout, out.stdout
    verify = client.run(
        "openssl s_client -connect %s:443 -servername %s -CAfile %s -verify_return_error "
        "-verify_hostname %s </dev/null 2>&1 | grep -F 'Verify return code'",
        name,
        name,
        ROOT,
        name,
    )
    assert "Verify return code: 0 (ok)" in verify.stdout, verify.stdout
    page = client.check_output("curl -fsS --cacert %s https://%s/", ROOT, name)
    assert site["title"] in page and AGENCIES[site["agency"]] in page


@pytest.mark.parametrize("site", SITES, ids=IDS)
def test_http_redirects_to_https(connect, site) -> None:  # type: ignore[no-untyped-def]
    client = connect(CLIENT, sudo=False)
    out = client.check_output(
        "curl -sS -o /dev/null -w '%%{http_code} %%{redirect_url}' http://%s/a?b=1",
        site["hostname"],
    )
    assert out == f"301 https://{site['hostname']}/a?b=1"


@pytest.mark.parametrize("site", SITES, ids=IDS)
def test_security_headers_are_sent(connect, site) -> None:  # type: ignore[no-untyped-def]
    client = connect(CLIENT, sudo=False)
    head = client.check_output(
        "curl -fsS -D - -o /dev/null --cacert %s https://%s/", ROOT, site["hostname"]
    )
    lowered = head.lower()
    for header in HEADERS:
        assert header.lower() in lowered, (site["name"], header, head)


@pytest.mark.parametrize("version", ["tls1", "tls1_1"])
@pytest.mark.parametrize("site", SITES[:3] + SITES[-1:], ids=IDS[:3] + IDS[-1:])
def test_old_tls_versions_are_refused(connect, site, version: str) -> None:  # type: ignore[no-untyped-def]
    client = connect(CLIENT, sudo=False)
    name = site["hostname"]
    old = client.run(
        "openssl s_client -connect %s:443 -servername %s -%s -cipher DEFAULT@SECLEVEL=0 </dev/null",
        name,
        name,
        version,
    )
    assert old.rc != 0, old.stdout
    modern = client.run(
        "openssl s_client -connect %s:443 -servername %s -tls1_2 </dev/null", name, name
    )
    assert modern.rc == 0, modern.stdout + modern.stderr


def test_a_name_no_site_has_gets_no_page(connect) -> None:  # type: ignore[no-untyped-def]
    client = connect(CLIENT, sudo=False)
    address = connect(PORTAL).check_output("hostname -I").split()[0]
    out = client.run(
        "curl -sS --cacert %s --resolve nosuchsite.lab.pdic.internal:443:%s "
        "https://nosuchsite.lab.pdic.internal/",
        ROOT,
        address,
    )
    assert out.rc != 0


def test_the_live_configuration_passes_nginx_t(connect) -> None:  # type: ignore[no-untyped-def]
    check = connect(PORTAL).run("nginx -t")
    assert check.rc == 0, check.stderr


def test_a_reload_nginx_refuses_fails_and_says_why(connect) -> None:  # type: ignore[no-untyped-def]
    """nginx -t cannot know that a rate-limit zone's key changed; the master refuses it at
    reload and keeps serving the old configuration. The role's reload (pdic-nginx-reload) then
    fails with nginx's reason, where ``systemctl reload`` reports success."""
    portal = connect(PORTAL)
    conf = "/etc/nginx/conf.d/pdic-sites.conf"
    backup = "/root/pdic-sites.conf.before-test"
    pid = portal.check_output("cat /run/nginx.pid")
    portal.check_output("cp -p %s %s", conf, backup)
    try:
        portal.check_output(
            "sed -i '0,/limit_req_zone $pdic_rate_key/s//limit_req_zone $binary_remote_addr/' %s",
            conf,
        )
        assert portal.run("nginx -t").rc == 0
        refused = portal.run("PDIC_NGINX_RELOAD_TIMEOUT=3 /usr/local/sbin/pdic-nginx-reload")
        assert refused.rc == 1, refused
        assert "nginx kept its old configuration" in refused.stderr
        assert '"$binary_remote_addr" key while previously it used' in refused.stderr
    finally:
        portal.check_output("cp -p %s %s && rm -f %s", backup, conf, backup)
    reloaded = portal.run("/usr/local/sbin/pdic-nginx-reload")
    assert reloaded.rc == 0, reloaded
    assert portal.check_output("cat /run/nginx.pid") == pid


def _blocks(conf: str) -> set[str]:
    """The per-site parts of the site file (split at its "# -- " comments)."""
    return set(conf.split("\n# -- ")[1:])


def test_a_site_added_to_the_inventory_is_served_alone(connect, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    portal = connect(PORTAL)
    before = portal.check_output("cat /etc/nginx/conf.d/pdic-sites.conf")
    pid = portal.check_output("cat /run/nginx.pid")
    inv = tmp_path / "lab"
    shutil.copytree(INVENTORY, inv)
    province_file = inv / "group_vars" / "all" / "province.yml"
    province = yaml.safe_load(province_file.read_text())
    province["portal_sites"].append(
        {
            "name": "xamot",
            "hostname": "xamot.lab.pdic.internal",
            "agency": "huyen-mau-xa-mot",
            "title": "Cổng thông tin điện tử xã Một",
        }
    )
    province_file.write_text(yaml.safe_dump(province, allow_unicode=True))
    limit = f"{PORTAL},ca-1,{CLIENT}"
    try:
        for play in ("common.yml", "pki.yml", "web.yml"):
            run = pdic(
                "deploy", "-i", str(inv), "--limit", limit, "--playbook", f"playbooks/{play}"
            )
            assert run.returncode == 0, run
        after = portal.check_output("cat /etc/nginx/conf.d/pdic-sites.conf")
        new = _blocks(after) - _blocks(before)
        assert len(new) == 1 and next(iter(new)).startswith("xamot: xamot.lab.pdic.internal"), new
        assert _blocks(before) <= _blocks(after)
        assert portal.check_output("cat /run/nginx.pid") == pid  # reloaded, not restarted
        client = connect(CLIENT, sudo=False)
        page = client.check_output("curl -fsS --cacert %s https://xamot.lab.pdic.internal/", ROOT)
        assert "Cổng thông tin điện tử xã Một" in page
    finally:
        for play in ("common.yml", "web.yml"):
            pdic("deploy", "--limit", limit, "--playbook", f"playbooks/{play}")


def _status_codes(argv_prefix: list[str], url: str, count: int) -> list[str]:
    """curl's argv for ``count`` requests of ``url`` over one kept-alive connection, printing
    each answer's status on a line."""
    argv = [*argv_prefix, "-s", "-w", "%{http_code}\\n"]
    for _ in range(count):
        argv += ["-o", "/dev/null", url]
    return argv


def test_rate_limit_answers_429_beyond_the_burst_except_to_exempt_networks(
    connect,  # type: ignore[no-untyped-def]
    inventory: Inventory,
    tmp_path: Path,
) -> None:
    site = SITES[1]
    url = f"https://{site['hostname']}/"
    # From the monitoring host: limited like any client (20r/s with a burst of 40).
    client = connect(CLIENT, sudo=False)
    argv = _status_codes(["curl", "--cacert", ROOT], url, 120)
    codes = client.check_output(" ".join(shlex.quote(a) for a in argv)).split()
    assert len(codes) == 120 and "429" in codes and codes.count("200") >= 40, codes
    # From the control machine, which the lab lists in nginx_rate_limit_exempt: never limited.
    root = tmp_path / "root.crt"
    root.write_text(client.check_output("cat %s", ROOT) + "\n", encoding="utf-8")
    address = inventory.host(PORTAL).address
    resolve = f"{site['hostname']}:443:{address}"
    local = subprocess.run(
        _status_codes(["curl", "--cacert", str(root), "--resolve", resolve], url, 120),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert local.stdout.split() == ["200"] * 120, local.stdout + local.stderr
