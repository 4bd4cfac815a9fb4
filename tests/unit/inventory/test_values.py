"""One home per rule: the roles' preflight checks values with the inventory rules' validators
(the ``pdic_valid`` Ansible test), and no role keeps a pattern of its own for them."""

from __future__ import annotations

import importlib.util
import re

import pytest

from pdic.inventory import values

from .conftest import REPO

ED25519_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIL7uq0y5Q3uYh3mQq7mbx0gZ8V5rmV1Zs3XbYq2r7tq"
    " an@workstation"
)
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
        ("host_name", "db-1", ["DB-1", "*.vn", "a..b", "db-1\n"]),
        ("dns_label", "pdic2026", ["a.b", "-a", "a" * 64]),
        ("unix_name", "pdicops", ["Ops", "1ops", "a" * 33, "ops\n"]),
        ("env_name", "DATABASE_URL", ["database_url", "PDIC_APP_NAME", "A-B"]),
        ("sha256", "ab" * 32, ["ab" * 31, "zz" * 32]),
        ("duration", "1m30s", ["30s1m", "0s", "15", ""]),
        (
            "webhook_url",
            "http://backup-1.lab.pdic.internal:9469/alerts",
            ["ftp://x/", "http://", "backup-1:9469", "http://x:0/", "http://x/\n", 9469],
        ),
        (
            "firewall_rule_name",
            "web portal, Cổng thông tin",
            ["ssh\n} accept", 'say "hi"', "đ" * 65, "tab\there", "", 22],
        ),
        (
            "ssh_public_key",
            ED25519_KEY,
            [
                'from="10.0.0.1" ' + ED25519_KEY,  # options are not a key
                "ssh-rsa " + ED25519_KEY.split()[1],  # the base64 key names another type
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",  # a type and no key
                "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
                "ssh-ed25519 not-base64!",
                ED25519_KEY + "\n" + ED25519_KEY,
                "",
            ],
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
    for path in sorted((REPO / "roles").glob("*/vars/main.yml")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.match(r"_\w+_(slug|dns|rate|size|quota)_re:", line):
                copies.append(f"{path.relative_to(REPO)}:{n}")
    assert copies == []
    preflights = "".join(p.read_text() for p in (REPO / "roles").glob("*/tasks/preflight.yml"))
    assert "pdic_valid('dns_name')" in preflights and "'pdic_valid', 'quota'" in preflights


# Values that tell the validators' patterns apart: a role's literal pattern that accepts and
# refuses exactly what a validator does on all of them is a copy of it.
SAMPLES = [
    "so-tu-phap",
    "So-Tu-Phap",
    "a",
    "-a",
    "a-",
    "a--b",
    "a_b",
    "_a",
    "1a",
    "db-1",
    "DB-1",
    "portal.example.gov.vn",
    "*.example.gov.vn",
    "*.*.vn",
    "a..b",
    "a.b",
    "a" * 33,
    "a" * 64,
    "pdicops",
    "ops\n",
    "DATABASE_URL",
    "A-B",
    "ab" * 32,
    "zz" * 32,
    "ab" * 31,
    "1m30s",
    "15d",
    "30s1m",
    "0s",
    "15",
    "20r/s",
    "500M",
    "1m",
    "",
    "x@y.vn",
    "X@y.vn",
    "x@y",
    "a..b@c.vn",
]
ROLE_PATTERN = re.compile(r"""match['"]?\)?,?\s*\(?\s*'(\^[^']*\$)'""")


def _role_patterns() -> list[tuple[str, str]]:
    found = []
    for path in sorted((REPO / "roles").rglob("*.yml")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for literal in ROLE_PATTERN.findall(line):
                found.append((f"{path.relative_to(REPO)}:{n}", literal))
    return found


def test_the_role_patterns_are_found() -> None:
    # The scan below must see the roles' own patterns (those that are not inventory values).
    literals = {literal for _, literal in _role_patterns()}
    assert "^0[0-7]{3}$" in literals and "^https?://" not in literals


def test_no_role_pattern_copies_a_validator() -> None:
    copies = []
    for where, literal in _role_patterns():
        # Whole-value semantics (Ansible's `match` lets "value\\n" through '^...$': one more
        # reason to use the validator).
        regex = re.compile(literal[1:-1])
        verdicts = [regex.fullmatch(s) is not None for s in SAMPLES]
        if not any(verdicts):
            continue  # a role's own kind of value (a mode, a path): no validator to copy
        for kind, validator in values.VALIDATORS.items():
            if verdicts == [validator(s) is None for s in SAMPLES]:
                copies.append(f"{where}: {literal} is pdic_valid('{kind}')")
    assert copies == []
