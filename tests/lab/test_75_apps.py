"""The applications on the lab: the e-office on eoffice-1 and the one-stop shop on hcc-1 (pdic's
reference application, version 1 per the inventory), each behind nginx on its host.

From another host (mon-1, whose /etc/hosts names both applications): /healthz answers 200 over
HTTPS through nginx, with a certificate that verifies against the centre's root alone; it
answers 503 with the database as the reason while PostgreSQL is stopped on db-1 (started again
afterwards, and healthy again). On the hosts: the unit is sandboxed, the settings file is
0640 for the application's group, the storage is the application's, the backup hook archives
it. Then `pdic app upgrade eoffice 2` leaves 2 running and healthy; `pdic app upgrade eoffice
3` (broken on purpose) stops at eoffice-1, which serves 2 again, back in nginx; `pdic app
rollback eoffice` brings back 1, the inventory's version, so the lab ends as the inventory
says. Idempotence and --check of the whole site are in test_30_idempotence.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
import yaml
from conftest import INVENTORY, pdic
from recap import recap

CLIENT = "mon-1"
DB = "db-1"
APPS = {
    a["name"]: a
    for a in yaml.safe_load((INVENTORY / "group_vars" / "all" / "applications.yml").read_text())[
        "pdic_applications"
    ]
}
HOSTS = {"eoffice": "eoffice-1", "hcc": "hcc-1"}
PKI = yaml.safe_load((INVENTORY / "group_vars" / "all" / "pki.yml").read_text())
ROOT = f"/usr/local/share/ca-certificates/pdic/{PKI['pki_ca_root']['name']}.crt"


def get(connect, app: str, path: str) -> tuple[int, Any]:  # type: ignore[no-untyped-def]
    """Status and JSON body of https://HOSTNAME/PATH from mon-1, verified with the root alone."""
    client = connect(CLIENT, sudo=False)
    out = client.run(
        "curl -sS --max-time 10 --cacert %s -w '\\n%%{http_code}' https://%s%s",
        ROOT,
        APPS[app]["hostname"],
        path,
    )
    assert out.rc == 0, out.stderr
    body, _, status = out.stdout.rpartition("\n")
    try:
        return int(status), json.loads(body)
    except ValueError:
        return int(status), body


def wait_for(connect, app: str, status: int, timeout: float = 90) -> Any:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        code, body = get(connect, app, "/healthz")
        if code == status or time.monotonic() > deadline:
            assert code == status, (app, code, body)
            return body
        time.sleep(2)


@pytest.mark.parametrize("app", sorted(APPS))
def test_healthz_is_200_from_another_host_through_nginx(connect, app: str) -> None:  # type: ignore[no-untyped-def]
    status, body = get(connect, app, "/healthz")
    assert status == 200, body
    assert body["status"] == "ok" and body["checks"] == {"database": "ok", "storage": "ok"}
    assert get(connect, app, "/version") == (200, {"app": app, "version": APPS[app]["version"]})


@pytest.mark.parametrize("app", sorted(APPS))
def test_the_host_name_reaches_the_local_server_for_the_health_probe(connect, app: str) -> None:  # type: ignore[no-untyped-def]
    host = HOSTS[app]
    out = connect(CLIENT, sudo=False).check_output(
        "curl -fsS --cacert %s https://%s.lab.pdic.internal/healthz", ROOT, host
    )
    assert json.loads(out)["status"] == "ok"


@pytest.mark.parametrize("app", sorted(APPS))
def test_metrics_go_to_the_monitoring_host_not_through_nginx(connect, app: str) -> None:  # type: ignore[no-untyped-def]
    status, _ = get(connect, app, "/metrics")
    assert status == 404
    host = HOSTS[app]
    address = connect(host).check_output("hostname -I").split()[0]
    metrics = connect(CLIENT, sudo=False).check_output(
        "curl -fsS http://%s:%s/metrics", address, str(APPS[app]["port"])
    )
    assert "pdic_app_http_requests_total" in metrics
    counter = (
        "pdic_app_documents_received_total" if app == "eoffice" else "pdic_app_files_received_total"
    )
    assert counter in metrics


@pytest.mark.parametrize("app", sorted(APPS))
def test_the_service_is_sandboxed_with_its_settings_readable_by_it_alone(connect, app: str) -> None:  # type: ignore[no-untyped-def]
    host = connect(HOSTS[app])
    unit = f"pdic-app-{app}.service"
    assert host.service(unit).is_running and host.service(unit).is_enabled
    props = dict(
        line.split("=", 1)
        for line in host.check_output(
            "systemctl show %s -p User -p ProtectSystem -p NoNewPrivileges -p PrivateTmp "
            "-p ProtectHome -p ReadWritePaths -p CapabilityBoundingSet",
            unit,
        ).splitlines()
    )
    assert props["User"] == f"pdicapp-{app}"
    assert props["ProtectSystem"] == "strict" and props["NoNewPrivileges"] == "yes"
    assert props["PrivateTmp"] == "yes" and props["ProtectHome"] == "yes"
    assert props["ReadWritePaths"] == f"/var/lib/pdic-apps/{app}/storage"
    assert props["CapabilityBoundingSet"] == ""
    settings = host.file(f"/etc/pdic-apps/{app}/env")
    assert (settings.user, settings.group, settings.mode) == ("root", f"pdicapp-{app}", 0o640)
    storage = host.file(f"/var/lib/pdic-apps/{app}/storage")
    assert (storage.user, storage.mode) == (f"pdicapp-{app}", 0o750)
    current = host.file(f"/opt/pdic-apps/{app}/current")
    assert current.is_symlink and current.linked_to.endswith(f"/releases/{APPS[app]['version']}")
    # Nothing but the storage is writable to it.
    denied = host.run("runuser -u pdicapp-%s -- touch /opt/pdic-apps/%s/current/x", app, app)
    assert denied.rc != 0


def test_the_backup_hook_archives_the_documents(connect) -> None:  # type: ignore[no-untyped-def]
    client = connect(CLIENT, sudo=False)
    sent = client.check_output(
        "curl -fsS --cacert %s --data-binary 'Cong van so 7/UBND' https://%s/documents",
        ROOT,
        APPS["eoffice"]["hostname"],
    )
    ident = json.loads(sent)["id"]
    host = connect("eoffice-1")
    host.check_output("systemctl start pdic-app-backup-eoffice.service")
    newest = host.check_output("ls -1t /var/backups/pdic-apps/eoffice/ | head -1")
    listing = host.check_output("tar -tzf /var/backups/pdic-apps/eoffice/%s", newest)
    assert f"storage/documents/{ident}" in listing
    assert host.service("pdic-app-backup-eoffice.timer").is_enabled


def test_healthz_is_503_while_the_database_is_down_and_200_again(connect) -> None:  # type: ignore[no-untyped-def]
    db = connect(DB)
    db.check_output("systemctl stop postgresql@15-main")
    try:
        for app in sorted(APPS):
            body = wait_for(connect, app, 503, timeout=30)
            assert body["status"] == "fail" and body["reason"].startswith("database: "), body
            assert body["checks"]["storage"] == "ok"
    finally:
        db.check_output("systemctl start postgresql@15-main")
    for app in sorted(APPS):
        wait_for(connect, app, 200, timeout=120)


def test_upgrade_to_2_leaves_2_running_and_healthy(connect) -> None:  # type: ignore[no-untyped-def]
    run = pdic("app", "upgrade", "eoffice", "2", timeout=600)
    assert run.returncode == 0, run
    assert "pdic app upgrade eoffice 2: OK" in run.stdout
    assert "eoffice-1  1 -> 2" in run.stdout
    assert get(connect, "eoffice", "/version") == (200, {"app": "eoffice", "version": "2"})
    wait_for(connect, "eoffice", 200, timeout=10)
    host = connect("eoffice-1")
    assert host.file("/opt/pdic-apps/eoffice/previous").linked_to.endswith("/releases/1")
    conf = host.check_output("cat /etc/nginx/conf.d/pdic-sites.conf")
    assert " down;" not in conf


def test_upgrade_to_the_broken_3_stops_at_the_first_host_with_2_still_serving(connect) -> None:  # type: ignore[no-untyped-def]
    run = pdic("app", "upgrade", "eoffice", "3", "--timeout", "20", timeout=600)
    assert run.returncode == 1, run
    assert "pdic app upgrade eoffice 3: FAILED at eoffice-1" in run.stdout
    assert "/healthz answered 503 for 20 s" in run.stdout
    assert "rolled back to 2, healthy" in run.stdout
    assert get(connect, "eoffice", "/version") == (200, {"app": "eoffice", "version": "2"})
    wait_for(connect, "eoffice", 200, timeout=10)
    conf = connect("eoffice-1").check_output("cat /etc/nginx/conf.d/pdic-sites.conf")
    assert " down;" not in conf


def test_rollback_brings_back_the_inventory_version(connect) -> None:  # type: ignore[no-untyped-def]
    run = pdic("app", "rollback", "eoffice", timeout=600)
    assert run.returncode == 0, run
    assert "eoffice-1  2 -> 1" in run.stdout
    assert get(connect, "eoffice", "/version") == (200, {"app": "eoffice", "version": "1"})
    wait_for(connect, "eoffice", 200, timeout=10)
    # As the inventory says again: a deploy of the applications changes nothing.
    deploy = pdic("deploy", "--tags", "apps", "--limit", "eoffice-1,hcc-1")
    assert deploy.returncode == 0, deploy
    assert {h: r["changed"] for h, r in recap(deploy.stdout).items()} == {
        "eoffice-1": 0,
        "hcc-1": 0,
    }, deploy.stdout


# Run in its own process: pyinfra's transport patches the standard library with gevent, which
# the test session must not get. Its eoffice-1 drops off the bridge as the artifact is sent.
_DROPPING_UPGRADE = """
import sys
from pdic.app.model import app_hosts, application
from pdic.app.transport import PyinfraTransport
from pdic.app.upgrade import upgrade
from pdic.inventory import load_inventory
from pdic.lab import set_link
from pdic.project import project_root

inventory = load_inventory(sys.argv[1])
app = application(inventory, "eoffice")
hosts = app_hosts(inventory, app)


class Dropping(PyinfraTransport):
    def install(self, host, artifact):
        set_link(host, False)
        return super().install(host, artifact)


transport = Dropping(app, hosts, project_root())
try:
    report = upgrade(app, "2", {h.name: h.address for h in hosts}, transport, timeout=10)
finally:
    set_link("eoffice-1", True)
print("\\n".join(report.lines()))
transport.close()
"""


def test_a_host_dropping_as_its_upgrade_is_sent_stays_out_of_nginx_until_the_printed_command(  # type: ignore[no-untyped-def]
    connect,
) -> None:
    """Issue 17: eoffice-1 (its own proxy) is taken out of nginx, then drops off the network as
    version 2 is sent. The upgrade ends within its deadlines and says the host failed and that
    nginx still marks it down, with the command that puts it back; the host says the same once
    it is back; the printed command makes the application answer through nginx again."""
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-c", _DROPPING_UPGRADE, str(INVENTORY)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PDIC_COMMAND_TIMEOUT": "10"},
        check=False,
    )
    took = time.monotonic() - started
    assert run.returncode == 0, run
    lines = run.stdout.splitlines()
    assert lines[0].startswith("pdic app upgrade eoffice 2: FAILED at eoffice-1"), lines
    assert any(
        line.split()[:3] == ["eoffice-1", "1", "FAILED:"]
        and "install failed: " in line
        and "eoffice-1: no answer within 10 s" in line
        for line in lines
    ), lines
    hint = "`pdic deploy --limit eoffice-1 --tags apps`"
    assert lines[-1] == (
        f"  nginx on eoffice-1 still marks eoffice-1 down: once healthy, {hint} puts them back"
    ), lines
    assert took < 120, f"the upgrade took {took:.0f} s with eoffice-1 cut off"
    # What it said is what the host is: still on 1, out of its own nginx (no server left: 502).
    host = connect("eoffice-1")
    status = host.check_output("/usr/local/sbin/pdic-app-release status eoffice")
    assert json.loads(status)["current"] == "1"
    assert " down;" in host.check_output("cat /etc/nginx/conf.d/pdic-sites.conf")
    assert get(connect, "eoffice", "/healthz")[0] == 502
    # The printed command puts it back.
    deploy = pdic(*hint.strip("`").split()[1:])
    assert deploy.returncode == 0, deploy
    assert recap(deploy.stdout)["eoffice-1"]["changed"] > 0, deploy.stdout
    assert " down;" not in host.check_output("cat /etc/nginx/conf.d/pdic-sites.conf")
    wait_for(connect, "eoffice", 200, timeout=30)
    assert get(connect, "eoffice", "/version") == (200, {"app": "eoffice", "version": "1"})
