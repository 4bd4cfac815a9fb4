"""Prometheus scrapes every exporter the inventory's hosts run: the jobs have one definition."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]


def test_the_playbook_keeps_the_roles_jobs_which_are_every_job_of_the_targets() -> None:
    # A list of jobs in the playbook once left postgres out: pg_up never existed in the lab.
    plays = yaml.safe_load((REPO / "playbooks" / "monitoring.yml").read_text(encoding="utf-8"))
    (role,) = [r for p in plays for r in p.get("roles", []) if r["role"] == "prometheus"]
    assert "prometheus_file_sd_jobs" not in role.get("vars", {})
    defaults = yaml.safe_load((REPO / "roles" / "prometheus" / "defaults" / "main.yml").read_text())
    assert defaults["prometheus_file_sd_jobs"] == []
    derived = yaml.safe_load((REPO / "roles" / "prometheus" / "vars" / "main.yml").read_text())
    assert derived["_prometheus_jobs"] == (
        "{{ prometheus_file_sd_jobs or (_prometheus_targets | list) }}"
    )
