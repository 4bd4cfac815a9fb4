"""One home per rule: the roles' preflight checks values with the inventory rules' validators
(the ``pdic_valid`` Ansible test), and no role keeps a pattern of its own for them."""

from __future__ import annotations

import importlib.util
import re

import pytest

from pdic.inventory import values

from .conftest import REPO

PLUGIN = REPO / "src" / "pdic" / "ansible_plugins" / "test" / "pdic_valid.py"


def _plugin():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("pdic_valid", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("slug", "so-tu-phap", ["So-Tu-Phap", "sotuphap\n", "-a", ""]),
        ("dns_name", "portal.example.gov.vn", ["portal", "a..b.vn", "portal.vn\n"]),
        ("quota", "500M", ["2GB", "lots", "0G", "500M\n"]),
        ("rate", "20r/s", ["20r/h", "0r/s", "20r/s\n"]),
        ("nginx_size", "1m", ["1MB", "1m\n", True]),
        ("certificate_name", "*.example.gov.vn", ["*.*.vn", "A.vn"]),
        (
            "firewall_rule_name",
            "web portal, Cổng thông tin",
            ["ssh\n} accept", 'say "hi"', "đ" * 65, "tab\there", "", 22],
        ),
    ],
)
def test_the_roles_test_is_the_checkers_validator(kind: str, good: str, bad: list[object]) -> None:
    test = _plugin().TestModule().tests()["pdic_valid"]
    assert test(good, kind) and values.VALIDATORS[kind](good) is None
    for value in bad:
        assert not test(value, kind), value
        assert values.VALIDATORS[kind](value) is not None, value


def test_an_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown kind 'slugg'"):
        _plugin().pdic_valid("x", "slugg")


def test_the_roles_keep_no_copy_of_the_inventory_patterns() -> None:
    copies = []
    # pki_cert's certificate-name pattern goes to its own filter (pdic_pki); not moved yet.
    pending = {"roles/pki_cert/vars/main.yml"}
    for path in sorted((REPO / "roles").glob("*/vars/main.yml")):
        if str(path.relative_to(REPO)) in pending:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.match(r"_\w+_(slug|dns|rate|size|quota)_re:", line):
                copies.append(f"{path.relative_to(REPO)}:{n}")
    assert copies == []
    preflights = "".join(p.read_text() for p in (REPO / "roles").glob("*/tasks/preflight.yml"))
    assert "pdic_valid('dns_name')" in preflights and "'pdic_valid', 'quota'" in preflights
