"""Prometheus, Alertmanager and the on-call mailbox of the lab, for the monitoring tests: what
fires, where it is routed, and which notifications reached the mailbox."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest
from conftest import INVENTORY

from pdic.inventory import load_inventory

INV = load_inventory(INVENTORY)
HOSTS = sorted(INV.hosts)
MON = INV.select("monitoring")[0]
PROMETHEUS = f"http://{MON.address}:9090"
ALERTMANAGER = f"http://{MON.address}:9093"
ONCALL_MAILDIR = "/var/vmail/lab.pdic.internal/oncall/Maildir"
RECEIVER_OF_TEAM = {t["name"]: t["receiver"] for t in INV.vars["alertmanager_teams"]}
SECOND_PATH = str(INV.vars["alertmanager_watchdog_receiver"])


def receivers_for(team: str, severity: str) -> set[str]:
    """Where Alertmanager sends an alert: its team's receiver, and the second path as well
    when it is critical (alertmanager_watchdog_carries_critical)."""
    return {RECEIVER_OF_TEAM[team]} | ({SECOND_PATH} if severity == "critical" else set())


def receivers_of(alert: dict[str, Any]) -> set[str]:
    return {r["name"] for r in alert["receivers"]}


def get(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=10) as response:  # a lab address
        body = json.load(response)
    return body["data"] if isinstance(body, dict) and "data" in body else body


def query(expr: str) -> list[dict[str, Any]]:
    return list(get(PROMETHEUS, "/api/v1/query", query=expr)["result"])


def wait(predicate, timeout: float = 120, every: float = 3):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def firing(alertname: str, host: str) -> list[dict[str, Any]]:
    return [
        a
        for a in get(PROMETHEUS, "/api/v1/alerts")["alerts"]
        if a["labels"].get("alertname") == alertname
        and a["labels"].get("host") == host
        and a["state"] == "firing"
    ]


def routed(alertname: str, host: str) -> list[dict[str, Any]]:
    """Alertmanager's alerts of that name and host, with their receivers."""
    return [
        a
        for a in get(ALERTMANAGER, "/api/v2/alerts")
        if a["labels"].get("alertname") == alertname and a["labels"].get("host") == host
    ]


def mails_about(connect, alertname: str, host: str) -> set[str]:  # type: ignore[no-untyped-def]
    """Files in the on-call mailbox (every team's on-call address is an alias of it) that carry
    a notification of ``alertname`` for ``host``."""
    mail = connect(INV.select("mail")[0].name)
    found = mail.run(
        "grep -rlZ -- %s %s/new %s/cur | xargs -0r grep -l -- %s",
        alertname,
        ONCALL_MAILDIR,
        ONCALL_MAILDIR,
        host,
    )
    return {line for line in found.stdout.splitlines() if line}


@pytest.fixture(scope="module")
def prometheus_ready(deployed) -> None:  # type: ignore[no-untyped-def]
    """Every target has been scraped at least once (the first deploy has just started them)."""
    ok = wait(lambda: len(query('up{job=~"node|pdic"} == 1')) == 2 * len(HOSTS), timeout=90)
    assert ok, query('up{job=~"node|pdic"}')
