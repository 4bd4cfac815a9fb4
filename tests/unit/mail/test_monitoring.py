"""Prometheus scrapes the mail hosts' exporters where the inventory has mail hosts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import yaml

from pdic.monitoring import JOBS

REPO = Path(__file__).resolve().parents[3]


def _jobs(groups: dict[str, list[str]]) -> Any:
    plays = yaml.safe_load((REPO / "playbooks" / "monitoring.yml").read_text(encoding="utf-8"))
    (role,) = [r for p in plays for r in p.get("roles", []) if r["role"] == "prometheus"]
    expression = role["vars"]["prometheus_file_sd_jobs"]
    return yaml.safe_load(jinja2.Environment().from_string(expression).render(groups=groups))


def test_the_mail_jobs_join_the_default_ones_where_there_are_mail_hosts() -> None:
    defaults = yaml.safe_load((REPO / "roles" / "prometheus" / "defaults" / "main.yml").read_text())
    assert _jobs({"mail": []}) == defaults["prometheus_file_sd_jobs"]
    assert _jobs({"mail": ["mail-1"]}) == [
        *defaults["prometheus_file_sd_jobs"],
        "postfix",
        "dovecot",
    ]
    assert set(_jobs({"mail": ["mail-1"]})) <= set(JOBS)
