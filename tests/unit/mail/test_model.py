"""pdic.mail.model and the mail role's filters: which host keeps what, from the inventory."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from pdic.inventory import load_inventory
from pdic.mail import MailError, model

REPO = Path(__file__).resolve().parents[3]
THAIBINH = load_inventory(REPO / "inventory" / "thaibinh")
LAB = load_inventory(REPO / "inventory" / "lab")


def _filters() -> ModuleType:
    path = REPO / "src" / "pdic" / "ansible_plugins" / "filter" / "pdic_mail.py"
    spec = importlib.util.spec_from_file_location("pdic_mail_filters", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_thaibinh_splits_its_mailboxes_between_two_hosts() -> None:
    one = model.inventory_rows(THAIBINH, "mail-1")
    two = model.inventory_rows(THAIBINH, "mail-2")
    assert len(one) + len(two) == 6000 and len(one) > 1000 and len(two) > 1000
    assert not set(model.names(one)) & set(model.names(two))
    assert one == sorted(one) and all(len(r) == 3 for r in one)
    hosts = model.domain_hosts(THAIBINH.vars["mail_domains"], "mail-1")
    assert hosts["thaibinh.gov.vn"] == "mail-1" and hosts["donghung.thaibinh.gov.vn"] == "mail-2"


def test_a_domain_without_host_is_kept_on_the_first_mail_host() -> None:
    domains = [
        {"name": "A.example.gov.vn", "agency": "a"},
        {"name": "b.example.gov.vn", "host": "m2"},
    ]
    assert model.hosted_domains(domains, "m1", "m1") == ["a.example.gov.vn"]
    assert model.hosted_domains(domains, "m2", "m1") == ["b.example.gov.vn"]
    boxes = [
        {"address": "x@a.example.gov.vn", "quota": "1G"},
        {"address": "y@b.example.gov.vn", "quota": "2G", "state": "disabled"},
    ]
    assert model.desired_rows(boxes, domains, "m1", "m1") == [
        ["x@a.example.gov.vn", "1G", "active"]
    ]
    assert model.desired_rows(boxes, domains, "m2", "m1") == [
        ["y@b.example.gov.vn", "2G", "disabled"]
    ]


def test_lab_rows_and_aliases() -> None:
    rows = model.inventory_rows(LAB, "mail-1")
    states = {a: s for a, _, s in rows}
    assert states["dungpm@lab.pdic.internal"] == "disabled"
    aliases = model.hosted_aliases(
        LAB.vars["mail_aliases"], LAB.vars["mail_domains"], "mail-1", "mail-1"
    )
    assert [
        "lanhdao@sotuphap.lab.pdic.internal",
        "haivd@sotuphap.lab.pdic.internal",
        "hoaptt@sotuphap.lab.pdic.internal",
    ] in aliases


def test_filters_give_the_same_answers() -> None:
    filters = _filters().FilterModule().filters()
    domains = LAB.vars["mail_domains"]
    assert filters["pdic_mail_desired"](
        LAB.vars["mail_mailboxes"], domains, "mail-1", "mail-1"
    ) == (model.inventory_rows(LAB, "mail-1"))
    assert filters["pdic_mail_hosted_domains"](domains, "mail-1", "mail-1") == [
        d["name"] for d in domains
    ]
    hashes = filters["pdic_mail_password_hashes"](["a@x.vn"], "seed")
    assert hashes["a@x.vn"].startswith("{SHA512-CRYPT}$6$")


def test_select_hosts() -> None:
    assert [h.name for h in model.select_hosts(THAIBINH, None)] == ["mail-1", "mail-2"]
    assert [h.name for h in model.select_hosts(THAIBINH, "mail-2")] == ["mail-2"]
    with pytest.raises(MailError, match="selects no host of group mail"):
        model.select_hosts(THAIBINH, "db")
