"""The `pdic_cap_for` filter: a lab caps every alert rule's `for:` without a copy of the rules."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from pdic.ansible_plugins.filter.pdic_rules import FilterModule, cap_for, seconds

REPO = Path(__file__).resolve().parents[3]
RULES = sorted((REPO / "monitoring" / "prometheus" / "rules").glob("*.yml"))


class _Tagged(str):
    """Stands for Ansible's own string type, which PyYAML's safe dumper refuses."""


@pytest.mark.parametrize(
    ("text", "value"), [("20s", 20), ("5m", 300), ("1h30m", 5400), ("100ms", 0.1), ("2d", 172800)]
)
def test_seconds(text: str, value: float) -> None:
    assert seconds(text) == value


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "1.5m"])
def test_seconds_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        seconds(text)


def test_empty_cap_keeps_the_file_byte_for_byte() -> None:
    content = RULES[0].read_text()
    assert cap_for(content, "") is content


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.name)
def test_every_rule_file_capped_keeps_its_rules_and_shortens_only_longer_fors(
    path: Path, tmp_path: Path
) -> None:
    before = yaml.safe_load(path.read_text())
    capped_text = FilterModule().filters()["pdic_cap_for"](path.read_text(), _Tagged("20s"))
    after = yaml.safe_load(capped_text)
    pairs = [
        (old, new)
        for g_old, g_new in zip(before["groups"], after["groups"], strict=True)
        for old, new in zip(g_old["rules"], g_new["rules"], strict=True)
    ]
    for old, new in pairs:
        assert {k: v for k, v in old.items() if k != "for"} == {
            k: v for k, v in new.items() if k != "for"
        }
        if "for" in old:
            assert new["for"] == (old["for"] if seconds(old["for"]) <= 20 else "20s")
    out = tmp_path / path.name
    out.write_text(capped_text)
    check = subprocess.run(
        ["promtool", "check", "rules", str(out)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
