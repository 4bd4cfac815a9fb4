"""The monitoring roles' configuration files, rendered from the lab inventory, pass the checks
the roles run before a file goes live (``validate:``) and say what the design asks.

``playbooks/render.yml`` renders them on the controller with the roles' own defaults, vars and
templates (one ansible-playbook run per test module, nothing connects to a host); this module
then runs ``promtool check config`` (which also reads the rule and file_sd files),
``amtool check-config``, the blackbox exporter's ``--config.check`` and the pdic exporter's
``--check-config`` on them. A checker that is not installed is skipped (an error under ``CI``:
scripts/setup installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pdic.exporter.app import build_collectors, listen_on, load_config
from pdic.inventory import load_valid_inventory
from pdic.monitoring import JOBS

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(__file__).parent / "playbooks" / "render.yml"
LAB = REPO / "inventory" / "lab"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (scripts/setup installs it); required under CI")
        pytest.skip(f"{name} is not installed")
    return path


def render(inventory: Path, out: Path) -> None:
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_CACHE_PLUGIN": "memory",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "PYTHONPATH": str(REPO / "src"),
    }
    extra = {
        "out": str(out),
        "_prometheus_config_dir": str(out / "mon-1"),
        "prometheus_rules_source_dir": str(REPO / "monitoring" / "prometheus" / "rules"),
        "prometheus_consoles_source_dir": str(REPO / "monitoring" / "prometheus" / "consoles"),
    }
    result = subprocess.run(
        [str(ansible_playbook), "-i", str(inventory), str(PLAYBOOK), "-e", json.dumps(extra)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("render")
    render(LAB, out)
    return out


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _args(path: Path) -> list[str]:
    result = subprocess.run(
        ["/bin/sh", "-c", '. "$1" && printf "%s\\n" $ARGS', "sh", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def test_promtool_checks_the_configuration_rules_and_targets(lab: Path) -> None:
    result = subprocess.run(
        [_tool("promtool"), "check", "config", str(lab / "mon-1" / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 rule files found" in result.stdout


def test_prometheus_intervals_come_from_the_inventory(lab: Path) -> None:
    config = _yaml(lab / "mon-1" / "prometheus.yml")
    assert config["global"] == {"scrape_interval": "5s", "evaluation_interval": "5s"}
    assert "--storage.tsdb.retention.time=2d" in _args(lab / "mon-1" / "default" / "prometheus")


def test_prometheus_scrapes_every_job(lab: Path) -> None:
    jobs = {c["job_name"]: c for c in _yaml(lab / "mon-1" / "prometheus.yml")["scrape_configs"]}
    # Every job of the inventory's targets, postgres and the mail exporters included.
    assert list(jobs) == ["prometheus", "alertmanager", "blackbox_exporter", *JOBS]
    assert {"postgres", "postfix", "dovecot"} <= set(jobs)
    for job in ("blackbox_https", "blackbox_mail", "blackbox_healthz"):
        assert jobs[job]["metrics_path"] == "/probe"
        relabel = jobs[job]["relabel_configs"]
        assert {"source_labels": ["module"], "target_label": "__param_module"} in relabel
        assert relabel[-1] == {"target_label": "__address__", "replacement": "127.0.0.1:9115"}
    assert jobs["pdic"]["metric_relabel_configs"][0]["source_labels"] == ["exported_host"]
    assert "metric_relabel_configs" not in jobs["node"]


def test_file_sd_files_are_the_targets_pdic_writes(lab: Path, tmp_path: Path) -> None:
    from pdic.monitoring import write_file_sd

    for path in write_file_sd(load_valid_inventory(LAB), tmp_path):
        rendered = lab / "mon-1" / "file_sd" / path.name
        if rendered.exists():
            assert json.loads(rendered.read_text()) == json.loads(path.read_text()), path.name
    names = sorted(p.name for p in (lab / "mon-1" / "file_sd").iterdir())
    assert names == sorted(f"{j}.json" for j in JOBS)


def test_amtool_checks_the_alertmanager_configuration(lab: Path) -> None:
    result = subprocess.run(
        [_tool("amtool"), "check-config", str(lab / "mon-1" / "alertmanager.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_route_per_team_and_host_down_inhibits(lab: Path) -> None:
    config = _yaml(lab / "mon-1" / "alertmanager.yml")
    assert config["global"]["smtp_smarthost"] == "mail-1.lab.pdic.internal:25"
    routes = {r["matchers"][0]: r["receiver"] for r in config["route"]["routes"]}
    assert routes == {
        'alertname="Watchdog"': "second-path",
        'severity="critical"': "second-path",
        'team="platform"': "oncall",
        'team="web"': "web",
        'team="mail"': "mail",
        'team="database"': "database",
        'team="security"': "security",
    }
    assert config["route"]["group_wait"] == "10s"
    receivers = {r["name"]: r.get("email_configs", [{}])[0].get("to") for r in config["receivers"]}
    assert receivers["web"] == "oncall-web@lab.pdic.internal"
    assert {
        "source_matchers": ['alertname="HostDown"'],
        "target_matchers": ['alertname!="HostDown"'],
        "equal": ["host"],
    } in config["inhibit_rules"]
    assert "--cluster.listen-address=" in _args(
        lab / "mon-1" / "default" / "prometheus-alertmanager"
    )


def test_the_watchdog_goes_only_to_its_own_receiver(lab: Path) -> None:
    """First route, no `continue`: no team receiver gets the alert that always fires. The lab's
    second path is a webhook to the backup host's pdic exporter; every critical alert goes
    there too (`continue`: and on to its team)."""
    config = _yaml(lab / "mon-1" / "alertmanager.yml")
    first, critical = config["route"]["routes"][:2]
    assert first == {
        "matchers": ['alertname="Watchdog"'],
        "receiver": "second-path",
        "group_by": ["alertname"],
        "repeat_interval": "1m",
    }
    assert critical == {
        "matchers": ['severity="critical"'],
        "receiver": "second-path",
        "continue": True,
    }
    second = next(r for r in config["receivers"] if r["name"] == "second-path")
    assert second == {
        "name": "second-path",
        "webhook_configs": [
            {"url": "http://backup-1.lab.pdic.internal:9469/alerts", "send_resolved": True}
        ],
    }
    assert not any(r["name"] == "_discard" for r in config["receivers"])
    exporter = _yaml(lab / "backup-1" / "exporter.yml")
    assert exporter["collectors"]["alert_webhook"] == {"enabled": True, "path": "/alerts"}


def test_postgres_exporter_runs_the_queries_the_rules_read(lab: Path) -> None:
    args = _args(lab / "db-1" / "default" / "prometheus-postgres-exporter")
    assert "--extend.query-path=/etc/prometheus-postgres-exporter/queries.yaml" in args
    queries = _yaml(lab / "db-1" / "postgres-exporter-queries.yaml")
    series = {
        f"{name}_{column}"
        for name, query in queries.items()
        for metric in query["metrics"]
        for column, spec in metric.items()
        if spec["usage"] != "LABEL"
    }
    rules = "".join(
        p.read_text(encoding="utf-8")
        for p in (REPO / "monitoring" / "prometheus" / "rules").glob("*.yml")
    )
    assert all(name in rules for name in series), sorted(n for n in series if n not in rules)
    assert series == {
        "pg_replication_is_replica",
        "pg_replication_lag_seconds",
        "pg_replication_wal_receiver_streaming",
        "pg_wal_archive_ready_segments",
        "pg_replication_slot_active",
        "pg_replication_slot_retained_bytes",
        "pg_replication_slot_lost",
    }
    assert all(q["master"] is True and q["query"].startswith("SELECT ") for q in queries.values())


def test_blackbox_configuration_passes_its_check(lab: Path) -> None:
    config = lab / "mon-1" / "blackbox.yml"
    result = subprocess.run(
        [_tool("prometheus-blackbox-exporter"), "--config.check", f"--config.file={config}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    modules = _yaml(config)["modules"]
    assert {"https_2xx", "smtp_banner", "imaps", "http_2xx"} <= set(modules)
    tls = modules["https_2xx"]["http"]["tls_config"]
    assert tls == {"ca_file": "/etc/ssl/certs/ca-certificates.crt", "insecure_skip_verify": False}
    assert modules["imaps"]["tcp"]["tls"] is True


def test_node_exporter_has_the_systemd_and_textfile_collectors(lab: Path) -> None:
    args = _args(lab / "mon-1" / "default" / "prometheus-node-exporter")
    assert "--collector.systemd" in args
    assert "--collector.textfile.directory=/var/lib/prometheus/node-exporter" in args
    assert "--web.listen-address=0.0.0.0:9100" in args


@pytest.mark.parametrize("host", ["mon-1", "ca-1"])
def test_pdic_exporter_config_passes_its_own_check(lab: Path, host: str) -> None:
    config = load_config(lab / host / "exporter.yml")
    assert listen_on(config) == ("0.0.0.0", 9469)
    assert build_collectors(config) == {}
    assert config["collectors"]["certificates"] == {"enabled": False, "paths": []}


def test_pdic_exporter_unit_is_hardened(lab: Path) -> None:
    unit = (lab / "mon-1" / "pdic-exporter.service").read_text(encoding="utf-8")
    for line in (
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "CapabilityBoundingSet=",
    ):
        assert f"\n{line}\n" in unit
    assert "/usr/bin/python3 -m pdic.exporter --config /etc/pdic/exporter.yml" in unit
    assert "SupplementaryGroups" not in unit


def test_pdic_exporter_reads_the_mail_queue_only_on_mail_hosts(lab: Path) -> None:
    # postqueue lists the interfaces (netlink) and is setgid postdrop: both only where needed.
    mail = (lab / "mail-1" / "pdic-exporter.service").read_text(encoding="utf-8")
    assert "\nRestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK\n" in mail
    assert "\nSupplementaryGroups=postdrop\n" in mail
    mon = (lab / "mon-1" / "pdic-exporter.service").read_text(encoding="utf-8")
    assert "\nRestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n" in mon
