"""Patch waves over the fake transport: order, skips, stops, reboots, restarts, report, Ctrl-C."""

from __future__ import annotations

from typing import Any

import pytest

from pdic.inventory import Inventory
from pdic.patch.apt import Update
from pdic.patch.wave import FAILED, PATCHED, SKIPPED, UNCHANGED, UNTOUCHED, PatchError, patch

from .conftest import Clock, FakeTransport

SSL = [Update("libssl3", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2")]
TWO = [*SSL, Update("openssl", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2")]


def run(inv: Inventory, fake: FakeTransport, limit: str | None = None, **kw: Any):  # type: ignore[no-untyped-def]
    lines: list[str] = []
    report = patch(
        inv, inv.select(limit), fake, clock=Clock(), sleep=lambda _: None, say=lines.append, **kw
    )
    return report


def states(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {h.host: h.state for h in report.hosts}


def test_all_good_patches_in_order_and_puts_hosts_back(thaibinh: Inventory) -> None:
    fake = FakeTransport({h: SSL for h in thaibinh.hosts})
    report = run(thaibinh, fake, "eoffice,portal-1")
    assert report.ok
    assert states(report) == {"portal-1": PATCHED, "eoffice-1": PATCHED, "eoffice-2": PATCHED}
    installs = [c[1] for c in fake.calls if c[0] == "install"]
    assert installs == ["portal-1", "eoffice-1", "eoffice-2"]
    # eoffice-1 goes out of the upstream on both proxies before its install, back after
    sets = [c for c in fake.calls if c[0] in ("set_down", "install")]
    first = sets.index(("install", "eoffice-1"))
    assert sets[first - 2 : first] == [
        ("set_down", "eoffice-1", "pdic_site_eoffice", "203.0.113.14:8001"),
        ("set_down", "eoffice-2", "pdic_site_eoffice", "203.0.113.14:8001"),
    ]
    assert fake.down == {
        ("eoffice-1", "pdic_site_eoffice"): [],
        ("eoffice-2", "pdic_site_eoffice"): [],
    }
    assert report.still_down == {}
    assert report.lines()[0] == "pdic patch: OK (3 host(s), serial 1, reboot auto)"
    assert report.lines()[1] == (
        "  portal-1   patched: 1 package(s), restarted nothing, rebooted: no"
    )


def test_hosts_without_updates_are_not_touched(thaibinh: Inventory) -> None:
    fake = FakeTransport({"eoffice-2": SSL})
    report = run(thaibinh, fake, "eoffice")
    assert states(report) == {"eoffice-1": UNCHANGED, "eoffice-2": PATCHED}
    assert fake.steps("eoffice-1") == ["pending", "set_down", "set_down"]  # a proxy only
    assert not any(c[0] == "set_down" and "203.0.113.14" in c[3] for c in fake.calls)


def test_single_members_are_skipped_without_allow_outage(lab: Inventory) -> None:
    fake = FakeTransport({h: SSL for h in lab.hosts})
    report = run(lab, fake)
    assert report.ok
    assert states(report)["db-2"] == PATCHED
    assert {h for h, s in states(report).items() if s == SKIPPED} == set(lab.hosts) - {"db-2"}
    assert [c[1] for c in fake.calls if c[0] == "install"] == ["db-2"]
    line = next(x for x in report.lines() if x.strip().startswith("db-1"))
    assert line.endswith(
        "skipped: single member of db primary, use --allow-outage (1 update(s) pending)"
    )


def test_allow_outage_patches_them_with_monitoring_last(lab: Inventory) -> None:
    fake = FakeTransport({h: SSL for h in lab.hosts})
    report = run(lab, fake, allow_outage=True)
    assert report.ok
    assert [c[1] for c in fake.calls if c[0] == "install"] == [
        "portal-1",
        "eoffice-1",
        "hcc-1",
        "mail-1",
        "db-2",
        "db-1",
        "backup-1",
        "ca-1",
        "mon-1",
    ]


def test_first_failure_stops_the_wave_hosts_after_untouched(thaibinh: Inventory) -> None:
    fake = FakeTransport(
        {h: TWO for h in thaibinh.hosts}, fail={("portal-2", "install"): "dpkg: error"}
    )
    report = run(thaibinh, fake, "portal,eoffice")
    assert not report.ok and report.stopped_at == "portal-2"
    assert states(report) == {
        "portal-1": PATCHED,
        "portal-2": FAILED,
        "portal-3": UNTOUCHED,
        "eoffice-1": UNTOUCHED,
        "eoffice-2": UNTOUCHED,
    }
    assert report.host("portal-2").step == "install"
    assert "install" not in fake.steps("portal-3")
    assert report.lines()[0].startswith("pdic patch: FAILED at portal-2 ")
    assert "  portal-2   FAILED at install: dpkg: error" in report.lines()[2]


def test_an_unhealthy_host_is_left_out_of_the_upstream(thaibinh: Inventory) -> None:
    fake = FakeTransport(
        {"eoffice-1": SSL, "eoffice-2": SSL},
        fail={("eoffice-1", "check:eoffice /healthz"): "answered 502"},
    )
    report = run(thaibinh, fake, "eoffice")
    line = report.host("eoffice-1")
    assert line.state == FAILED and line.step == "health"
    assert line.detail.startswith("eoffice /healthz: answered 502 after 600 s")
    assert line.detail.endswith("unhealthy: left out of the nginx upstream")
    assert report.host("eoffice-2").state == UNTOUCHED
    assert report.still_down == {"eoffice-1": ["eoffice-1"], "eoffice-2": ["eoffice-1"]}
    assert any(
        "`pdic deploy --limit eoffice-1 --tags apps` puts them back" in x for x in report.lines()
    )


def test_an_install_failure_on_a_healthy_host_puts_it_back(thaibinh: Inventory) -> None:
    fake = FakeTransport({"eoffice-1": SSL}, fail={("eoffice-1", "install"): "no space left"})
    report = run(thaibinh, fake, "eoffice")
    assert report.host("eoffice-1").detail == "no space left; its checks pass: back in service"
    assert report.still_down == {}


def test_a_host_not_back_after_its_reboot_stops_the_wave(thaibinh: Inventory) -> None:
    fake = FakeTransport(
        {"mail-1": SSL, "mail-2": SSL},
        needs_reboot={"mail-1"},
        fail={("mail-1", "wait_back"): "mail-1: no SSH answer within 600 s"},
    )
    report = run(thaibinh, fake, "mail")
    assert report.host("mail-1").step == "back after reboot"
    assert report.host("mail-2").state == UNTOUCHED
    assert report.stopped_at == "mail-1"


def test_reboot_auto_reboots_only_when_required_and_skips_restarts(thaibinh: Inventory) -> None:
    fake = FakeTransport(
        {"mail-1": SSL, "mail-2": SSL},
        needs_reboot={"mail-1"},
        stale={"mail-2": ["postfix.service"]},
    )
    report = run(thaibinh, fake, "mail")
    assert fake.steps("mail-1") == ["pending", "install", "reboot_required", "reboot", "wait_back"]
    assert fake.steps("mail-2") == [
        "pending",
        "install",
        "reboot_required",
        "stale_units",
        "restart",
    ]
    assert report.host("mail-1").rebooted and not report.host("mail-2").rebooted
    assert report.host("mail-2").restarted == ["postfix.service"]
    assert "rebooted: yes" in report.lines()[1]


def test_reboot_never_reports_reboot_required(thaibinh: Inventory) -> None:
    fake = FakeTransport(
        {"mail-1": SSL}, needs_reboot={"mail-1"}, stale={"mail-1": ["dbus.service", "ssh.service"]}
    )
    report = run(thaibinh, fake, "mail-1", reboot="never")
    assert "reboot" not in fake.steps("mail-1")
    assert ("restart", "mail-1", "ssh.service") in fake.calls
    assert report.lines()[1].endswith(
        "patched: 1 package(s), restarted ssh.service, rebooted: no, reboot required"
    )


def test_check_reads_updates_and_changes_nothing(thaibinh: Inventory) -> None:
    fake = FakeTransport({"portal-1": TWO})
    report = run(thaibinh, fake, "portal", check=True)
    assert report.ok
    assert {c[0] for c in fake.calls} == {"pending"}
    assert report.pending_lines()[:3] == [
        "portal-1: 2 update(s) pending",
        "    libssl3 3.0.11-1~deb12u1 -> 3.0.11-1~deb12u2",
        "    openssl 3.0.11-1~deb12u1 -> 3.0.11-1~deb12u2",
    ]
    assert report.lines()[1].endswith("2 update(s) pending")


def test_a_host_whose_updates_cannot_be_read_stops_before_any_change(thaibinh: Inventory) -> None:
    fake = FakeTransport({"portal-1": SSL}, fail={("portal-2", "pending"): "portal-2: unreachable"})
    report = run(thaibinh, fake, "portal")
    assert report.stopped_at == "portal-2"
    assert report.host("portal-2").step == "read updates"
    assert not any(c[0] == "install" for c in fake.calls)


def test_ctrl_c_reports_and_puts_healthy_hosts_back(thaibinh: Inventory) -> None:
    fake = FakeTransport({h: SSL for h in thaibinh.hosts}, interrupt=("eoffice-2", "install"))
    report = run(thaibinh, fake, "eoffice")
    assert report.interrupted and not report.ok
    assert states(report) == {"eoffice-1": PATCHED, "eoffice-2": FAILED}
    assert report.host("eoffice-2").detail == (
        "interrupted here: check the host; its checks pass: back in service"
    )
    assert report.still_down == {}
    assert report.lines()[0].startswith("pdic patch: INTERRUPTED at eoffice-2 ")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"serial": 0}, "--serial: 0 is not a whole number >= 1"),
        ({"reboot": "sometimes"}, "--reboot: 'sometimes' is not one of auto, never"),
        ({"timeout": 0}, "--timeout: 0 is not"),
        ({"timeout": float("nan")}, "--timeout: nan is not"),
    ],
)
def test_bad_input_changes_nothing(thaibinh: Inventory, kw: dict[str, Any], message: str) -> None:
    fake = FakeTransport()
    with pytest.raises(PatchError, match=message.replace("(", r"\(")):
        run(thaibinh, fake, **kw)
    assert fake.calls == []
