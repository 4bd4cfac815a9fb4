"""`pdic app upgrade` and `pdic app rollback`, orchestrated over a fake transport.

The fake keeps each host's release history, answers /healthz by version (version 3 is broken)
and records every step, so the order is visible: a host leaves the nginx upstream on every
proxy before it is changed and comes back only when healthy; the first failure is rolled back
and stops the run with the hosts after it untouched; a host already at the version is left
alone; an unreadable host stops everything before any change. Time is a fake clock.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pdic.app.model import AppError, Application, Artifact, application
from pdic.app.upgrade import (
    FAILED,
    ROLLED_BACK,
    UNCHANGED,
    UNTOUCHED,
    UPGRADED,
    Health,
    Release,
    batches,
    inventory_hint,
    mark_down,
    rollback,
    upgrade,
    wait_healthy,
)
from pdic.cli import main
from pdic.inventory import load_inventory

from .conftest import REPO

APP = Application(
    name="eoffice",
    group="eoffice",
    hostname="vpdt.example.gov.vn",
    port=8001,
    version="1",
    artifacts=tuple(Artifact(v, f"apps/dist/eoffice-{v}.tar.gz", v * 64) for v in "123"),
)
ADDRESSES = {"eoffice-1": "192.0.2.14", "eoffice-2": "192.0.2.15", "eoffice-3": "192.0.2.16"}
SERVER = {h: f"{a}:8001" for h, a in ADDRESSES.items()}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeTransport:
    history: dict[str, list[str]]
    broken: set[str] = field(default_factory=lambda: {"3"})
    fail: dict[tuple[str, str], str] = field(default_factory=dict)
    events: list[tuple[str, ...]] = field(default_factory=list)
    down: dict[str, tuple[str, ...]] = field(default_factory=dict)
    health_calls: int = 0

    def _maybe_fail(self, step: str, host: str) -> None:
        if (step, host) in self.fail:
            raise AppError(self.fail[step, host])

    def release(self, host: str) -> Release:
        self._maybe_fail("release", host)
        h = self.history[host]
        return Release(h[-1] if h else None, h[-2] if len(h) > 1 else None)

    def set_down(self, proxy: str, down: Collection[str]) -> None:
        self._maybe_fail("set_down", proxy)
        self.down[proxy] = tuple(sorted(down))
        self.events.append(("set_down", proxy, *sorted(down)))

    def install(self, host: str, artifact: Artifact) -> None:
        self._maybe_fail("install", host)
        self.events.append(("install", host, artifact.version))

    def switch(self, host: str, version: str) -> None:
        self._maybe_fail("switch", host)
        self.history[host].append(version)
        self.events.append(("switch", host, version))

    def rollback(self, host: str) -> str:
        self._maybe_fail("rollback", host)
        self.history[host].pop()
        self.events.append(("rollback", host))
        return self.history[host][-1]

    def health(self, host: str) -> Health:
        self.health_calls += 1
        current = self.history[host][-1]
        if current in self.broken:
            return Health(503, '{"status": "fail", "reason": "broken on purpose"}')
        return Health(200, '{"status": "ok"}')

    def steps(self, host: str) -> list[tuple[str, ...]]:
        return [e for e in self.events if e[0] != "set_down" and e[1] == host]


def fake(**history: list[str]) -> FakeTransport:
    return FakeTransport({h: list(history.get(h.replace("-", "_"), ["1"])) for h in ADDRESSES})


def run_upgrade(transport: FakeTransport, version: str, **kwargs: object):  # type: ignore[no-untyped-def]
    clock = Clock()
    return upgrade(
        APP,
        version,
        ADDRESSES,
        transport,
        clock=clock,
        sleep=clock.sleep,
        timeout=20,
        **kwargs,  # type: ignore[arg-type]
    )


def test_every_host_leaves_nginx_is_upgraded_checked_and_comes_back_in_order() -> None:
    transport = fake()
    report = run_upgrade(transport, "2")
    assert report.ok and report.stopped_at is None
    assert [(h.host, h.before, h.after, h.state) for h in report.hosts] == [
        (h, "1", "2", UPGRADED) for h in ADDRESSES
    ]
    proxies = list(ADDRESSES)
    expected: list[tuple[str, ...]] = []
    for host in ADDRESSES:
        expected += [("set_down", p, SERVER[host]) for p in proxies]
        expected += [("install", host, "2"), ("switch", host, "2")]
        expected += [("set_down", p) for p in proxies]
    assert transport.events == expected
    assert transport.down == dict.fromkeys(proxies, ())


def test_the_first_host_that_fails_is_rolled_back_and_the_rest_untouched() -> None:
    transport = fake()
    report = run_upgrade(transport, "3")
    assert not report.ok and report.stopped_at == "eoffice-1"
    first, second, third = report.hosts
    assert (first.state, first.before, first.after) == (FAILED, "1", "1")
    assert "/healthz answered 503 for 20 s" in first.detail
    assert "broken on purpose" in first.detail
    assert first.detail.endswith("rolled back to 1, healthy")
    assert (second.state, second.after, third.state) == (UNTOUCHED, "1", UNTOUCHED)
    assert transport.steps("eoffice-1") == [
        ("install", "eoffice-1", "3"),
        ("switch", "eoffice-1", "3"),
        ("rollback", "eoffice-1"),
    ]
    assert transport.steps("eoffice-2") == transport.steps("eoffice-3") == []
    assert transport.history == {h: ["1"] for h in ADDRESSES}
    assert transport.down == dict.fromkeys(ADDRESSES, ())  # back in: it serves 1 again
    lines = report.lines()
    assert lines[0] == "pdic app upgrade eoffice 3: FAILED at eoffice-1 (3 host(s), serial 1)"
    assert lines[1].startswith("  eoffice-1  1           FAILED: /healthz answered 503")
    assert lines[2] == "  eoffice-2  1           untouched"


def test_a_failure_after_the_first_batch_leaves_the_upgraded_hosts_upgraded() -> None:
    transport = fake()
    transport.broken = set()
    transport.fail[("install", "eoffice-2")] = "pdic-app-release install: sha256 mismatch"
    report = run_upgrade(transport, "2")
    assert report.stopped_at == "eoffice-2"
    states = [(h.host, h.state, h.after) for h in report.hosts]
    assert states == [
        ("eoffice-1", UPGRADED, "2"),
        ("eoffice-2", FAILED, "1"),
        ("eoffice-3", UNTOUCHED, "1"),
    ]
    assert report.hosts[1].detail == (
        "install failed: pdic-app-release install: sha256 mismatch; still runs 1"
    )
    assert transport.down == dict.fromkeys(ADDRESSES, ())


def test_batches_of_serial_hosts_leave_nginx_together() -> None:
    transport = fake()
    report = run_upgrade(transport, "2", serial=2)
    assert report.ok
    outs = [e for e in transport.events if e[0] == "set_down" and len(e) > 2]
    assert outs[:3] == [
        ("set_down", p, SERVER["eoffice-1"], SERVER["eoffice-2"]) for p in ADDRESSES
    ]
    assert outs[3:] == [("set_down", p, SERVER["eoffice-3"]) for p in ADDRESSES]
    assert batches(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    with pytest.raises(AppError, match=r"--serial: 0 is not a whole number >= 1"):
        batches(["a"], 0)


def test_hosts_already_at_the_version_are_left_alone() -> None:
    transport = fake(eoffice_1=["1", "2"])
    report = run_upgrade(transport, "2")
    assert report.ok
    assert report.hosts[0].state == UNCHANGED
    assert transport.steps("eoffice-1") == []
    assert all(SERVER["eoffice-1"] not in e for e in transport.events)


def test_an_unreadable_host_stops_everything_before_any_change() -> None:
    transport = fake()
    transport.fail[("release", "eoffice-3")] = "ssh: connection reset"
    report = run_upgrade(transport, "2")
    assert report.stopped_at == "eoffice-3"
    assert report.hosts[2].detail == "cannot read its releases: ssh: connection reset"
    assert transport.events == []


def test_a_host_that_stays_unhealthy_after_rollback_stays_out_of_nginx() -> None:
    transport = fake(eoffice_1=["3"])
    transport.history["eoffice-1"] = ["3", "1"]  # runs 1, which ran after a broken 3
    transport.broken = {"3", "2"}
    report = run_upgrade(transport, "2")
    first = report.hosts[0]
    assert first.state == FAILED and first.after == "1"
    transport.broken.add("1")
    report = run_upgrade(transport, "2")
    first = report.hosts[0]
    assert "left out of nginx" in first.detail
    assert all(transport.down[p] == (SERVER["eoffice-1"],) for p in ADDRESSES)


def test_rollback_goes_back_one_step_on_every_host() -> None:
    transport = fake(eoffice_1=["1", "2"], eoffice_2=["1", "2"], eoffice_3=["1", "2"])
    clock = Clock()
    report = rollback(APP, ADDRESSES, transport, clock=clock, sleep=clock.sleep, timeout=5)
    assert report.ok
    assert [(h.before, h.after, h.state) for h in report.hosts] == [("2", "1", ROLLED_BACK)] * 3
    assert report.lines()[0] == "pdic app rollback eoffice: OK (3 host(s), serial 1)"
    assert inventory_hint(APP, report) is None  # the inventory says 1 already


def test_rollback_without_a_previous_release_changes_nothing() -> None:
    transport = fake(eoffice_1=["1", "2"], eoffice_2=["2"])
    clock = Clock()
    report = rollback(APP, ADDRESSES, transport, clock=clock, sleep=clock.sleep, serial=3)
    assert report.stopped_at == "eoffice-2"
    assert report.hosts[1].detail == "no previous release to roll back to"
    assert transport.events == []


def test_rollback_to_a_broken_release_stops_and_leaves_it_out() -> None:
    transport = fake(eoffice_1=["3", "2"], eoffice_2=["3", "2"])
    clock = Clock()
    report = rollback(APP, ADDRESSES, transport, clock=clock, sleep=clock.sleep, timeout=3)
    assert report.stopped_at == "eoffice-1"
    assert report.hosts[0].detail.startswith("/healthz answered 503 for 3 s")
    assert report.hosts[1].state == UNTOUCHED
    assert all(transport.down[p] == (SERVER["eoffice-1"],) for p in ADDRESSES)


def test_waiting_for_health_polls_until_the_timeout() -> None:
    transport = fake(eoffice_1=["3"])
    clock = Clock()
    answer = wait_healthy(transport, "eoffice-1", 10, clock, clock.sleep)
    assert answer.status == 503
    assert transport.health_calls == 11 and clock.now == 10

    class Late(FakeTransport):
        def health(self, host: str) -> Health:
            super().health(host)
            if clock.now < 3:
                raise OSError("connection refused")
            return Health(200)

    late = Late({"eoffice-1": ["2"]})
    clock.now = 0
    assert wait_healthy(late, "eoffice-1", 10, clock, clock.sleep).ok
    assert late.health_calls == 4


def test_the_inventory_hint_names_the_version_to_write() -> None:
    report = run_upgrade(fake(), "2")
    assert inventory_hint(APP, report) == (
        'now set version: "2" for eoffice in pdic_applications; until then `pdic deploy` '
        "makes 1 current again"
    )
    assert inventory_hint(APP, run_upgrade(fake(), "3")) is None


CONF = """upstream pdic_site_eoffice {
    server 192.0.2.14:8001;
    server 192.0.2.15:8001 down;
    keepalive 8;
}
upstream pdic_site_eoffice-host {
    server 127.0.0.1:8001;
    keepalive 8;
}
"""


def test_mark_down_changes_the_servers_of_one_upstream_only() -> None:
    text = mark_down(CONF, "pdic_site_eoffice", {"192.0.2.14:8001", "127.0.0.1:8001"})
    assert text == CONF.replace("14:8001;", "14:8001 down;").replace("15:8001 down;", "15:8001;")
    assert mark_down(text, "pdic_site_eoffice", set()) == CONF.replace("15:8001 down;", "15:8001;")
    with pytest.raises(AppError, match="no upstream pdic_site_hcc in nginx's site file"):
        mark_down(CONF, "pdic_site_hcc", set())


def test_the_lab_inventory_gives_the_upgrade_what_it_needs() -> None:
    app = application(load_inventory(REPO / "inventory" / "lab"), "eoffice")
    assert app.artifact("3").sha256 != app.artifact("2").sha256


def test_the_commands_report_per_host_and_exit_1_on_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pdic.app import transport as module

    transport = FakeTransport({"eoffice-1": ["1"]})

    def connect(app: Application, hosts: list[object], project: Path) -> FakeTransport:
        assert app.name == "eoffice" and project == REPO
        return transport

    monkeypatch.setattr(module, "PyinfraTransport", connect)
    monkeypatch.setattr(FakeTransport, "close", lambda self: None, raising=False)
    monkeypatch.chdir(REPO)
    assert main(["app", "upgrade", "eoffice", "2", "--timeout", "1"]) == 0
    out = capsys.readouterr().out
    assert "- eoffice-1: out of the nginx upstream pdic_site_eoffice" in out
    assert "pdic app upgrade eoffice 2: OK (1 host(s), serial 1)" in out
    assert 'now set version: "2" for eoffice' in out
    assert main(["app", "upgrade", "eoffice", "3", "--timeout", "1"]) == 1
    out = capsys.readouterr().out
    assert "pdic app upgrade eoffice 3: FAILED at eoffice-1" in out
    assert "rolled back to 2, healthy" in out
    assert main(["app", "rollback", "eoffice", "--timeout", "1"]) == 0
    assert "pdic app rollback eoffice: OK" in capsys.readouterr().out
    assert transport.history == {"eoffice-1": ["1"]}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["app", "upgrade", "mail", "2"], "no application 'mail' in pdic_applications"),
        (["app", "upgrade", "eoffice", "9"], "no artifact of version '9'"),
        (["app", "rollback", "hcc", "--serial", "0"], "--serial: 0 is not a whole number >= 1"),
        (["app", "upgrade", "hcc", "2", "--timeout", "0"], "--timeout: 0 is not a number"),
        (["app", "upgrade", "eoffice", "2", "-i", "tests/inventory_corpus/06-bad-ip"], "06"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_any_host(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    from pdic.app import transport as module

    def refuse(*args: object) -> None:
        raise AssertionError("no host may be reached")

    monkeypatch.setattr(module, "PyinfraTransport", refuse)
    monkeypatch.chdir(REPO)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("pdic: error: ")
    if message != "06":
        assert message in err


# -- faults: a proxy unreachable, a rollback failing, Ctrl-C ----------------------------------


def test_a_proxy_that_cannot_take_the_host_out_leaves_no_other_proxy_holding_it() -> None:
    transport = fake()
    transport.fail[("set_down", "eoffice-2")] = "eoffice-2: no answer within 300 s"
    report = run_upgrade(transport, "2")
    assert report.stopped_at == "eoffice-1"
    assert report.hosts[0].detail.startswith("could not be taken out of nginx: eoffice-2: ")
    # eoffice-1's nginx took the change, then was set back: nothing is left marked down.
    assert transport.down["eoffice-1"] == () and report.still_down == {}
    assert transport.steps("eoffice-1") == []  # nothing installed


def test_a_proxy_left_marking_a_host_down_is_named_with_the_command_that_fixes_it() -> None:
    transport = fake()

    class Dropping(FakeTransport):
        """eoffice-1's nginx answers once, then its host drops off the network."""

        calls = 0

        def set_down(self, proxy: str, down: Collection[str]) -> None:
            if proxy == "eoffice-1":
                self.calls += 1
                if self.calls > 1:
                    raise AppError("eoffice-1: no answer within 300 s")
            if proxy == "eoffice-2":
                raise AppError("eoffice-2: no answer within 300 s")
            super().set_down(proxy, down)

    dropping = Dropping(transport.history)
    report = run_upgrade(dropping, "2")
    assert report.still_down == {"eoffice-1": ["eoffice-1"]}
    assert report.lines()[-1] == (
        "  nginx on eoffice-1 still marks eoffice-1 down: once healthy, "
        "`pdic deploy --limit eoffice-1 --tags apps` puts them back"
    )


def test_a_host_whose_rollback_failed_is_said_to_be_out_of_nginx() -> None:
    transport = fake()
    transport.fail[("rollback", "eoffice-1")] = "pdic-app-release: no previous release"
    report = run_upgrade(transport, "3")
    first = report.hosts[0]
    assert first.state == FAILED and first.detail.endswith(
        "; rollback FAILED: pdic-app-release: no previous release; left out of nginx"
    )
    assert report.still_down == {key: ["eoffice-1"] for key in ADDRESSES}


def test_ctrl_c_still_gives_the_report() -> None:
    transport = fake()

    class Interrupted(FakeTransport):
        def install(self, host: str, artifact: Artifact) -> None:
            if host == "eoffice-2":
                raise KeyboardInterrupt
            super().install(host, artifact)

    report = run_upgrade(Interrupted(transport.history), "2")
    assert report.interrupted and not report.ok and report.stopped_at == "eoffice-2"
    states = [(h.host, h.state) for h in report.hosts]
    assert states == [("eoffice-1", UPGRADED), ("eoffice-2", FAILED), ("eoffice-3", UNTOUCHED)]
    assert report.lines()[0].startswith("pdic app upgrade eoffice 2: INTERRUPTED at eoffice-2")
    assert report.still_down == {key: ["eoffice-2"] for key in ADDRESSES}
