"""Ansible filter ``pdic_cap_for``: alert rule files with every ``for:`` capped.

The lab shortens how long a condition must hold before its alert fires, so that a test sees
an alert within a minute, without a second copy of the rules (the prometheus role's
``prometheus_rule_for_max``). Durations are Prometheus durations (``90s``, ``5m``, ``1h30m``).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")


def seconds(duration: str) -> float:
    """A Prometheus duration in seconds; ValueError if it is not one."""
    text = str(duration).strip()
    parts = _PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{duration!r} is not a Prometheus duration")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def cap_for(content: str, maximum: str) -> str:
    """``content`` (a rule file) with each rule's ``for:`` at most ``maximum``; unchanged when
    ``maximum`` is empty. Returns YAML text."""
    if not maximum:
        return content
    maximum = str(maximum)  # Ansible passes its own string type, which PyYAML cannot dump
    limit = seconds(maximum)
    doc = yaml.safe_load(content)
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            if "for" in rule and seconds(rule["for"]) > limit:
                rule["for"] = maximum
    return str(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pdic_cap_for": cap_for}
