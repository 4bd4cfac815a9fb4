"""Maintenance windows: Alertmanager silences for the hosts a command touches, opened and
closed around it (a fake Alertmanager API in the test process answers as API v2 does)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import typer

from pdic import maint
from pdic.cli import main
from pdic.inventory import load_inventory

LAB = Path(__file__).resolve().parents[2] / "inventory" / "lab"

REAL_WINDOW = maint.window
NOW = dt.datetime(2026, 12, 6, 21, 0, tzinfo=dt.UTC)


class FakeAlertmanager:
    def __init__(self) -> None:
        self.silences: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    def __call__(self, method: str, path: str, body: bytes | None) -> Any:
        self.calls.append((method, path))
        if method == "POST" and path == "/api/v2/silences":
            silence = json.loads(body or b"{}")
            sid = f"{len(self.silences) + 1:08d}-aaaa-bbbb-cccc-dddddddddddd"
            self.silences[sid] = {**silence, "id": sid, "status": {"state": "active"}}
            return {"silenceID": sid}
        if method == "DELETE" and path.startswith("/api/v2/silence/"):
            self.silences[path.rsplit("/", 1)[1]]["status"] = {"state": "expired"}
            return None
        if method == "GET" and path == "/api/v2/silences":
            return list(self.silences.values())
        raise AssertionError(f"unexpected {method} {path}")


def test_a_window_silences_exactly_the_hosts_and_ends_with_the_command() -> None:
    am = FakeAlertmanager()
    inventory = load_inventory(LAB)
    with REAL_WINDOW(inventory, ["hcc-1", "portal-1"], "pdic deploy (journal record x)",
                     request=am) as window_id:  # fmt: skip
        silence = am.silences[str(window_id)]
        assert silence["matchers"] == [
            {"name": "host", "value": "hcc\\-1|portal\\-1", "isRegex": True, "isEqual": True}
        ]
        assert silence["comment"] == "pdic deploy (journal record x)"
        assert silence["createdBy"] == "pdic"
        assert silence["status"]["state"] == "active"
    assert am.silences[str(window_id)]["status"]["state"] == "expired"


@pytest.mark.parametrize("raised", [typer.Exit(1), KeyboardInterrupt(), OSError("gone")])
def test_a_window_is_closed_on_failure_and_ctrl_c(raised: BaseException) -> None:
    am = FakeAlertmanager()
    with pytest.raises(type(raised)), REAL_WINDOW(load_inventory(LAB), ["db-1"], "x", request=am):
        raise raised
    [silence] = am.silences.values()
    assert silence["status"]["state"] == "expired"


def test_without_alertmanager_the_command_goes_on_with_one_warning() -> None:
    def down(method: str, path: str, body: bytes | None) -> Any:
        raise maint.MaintError("cannot reach Alertmanager at http://10.251.0.61:9093: refused")

    warnings: list[str] = []
    ran = False
    with REAL_WINDOW(load_inventory(LAB), ["db-1"], "x", request=down, warn=warnings.append):
        ran = True
    assert ran
    assert warnings == [
        "pdic: warning: no maintenance window: cannot reach Alertmanager at "
        "http://10.251.0.61:9093: refused"
    ]


def test_windows_are_listed_with_their_hosts() -> None:
    am = FakeAlertmanager()
    first = maint.start(am, ["mail-1"], dt.timedelta(hours=2), "Postfix upgrade", "an (pdic)", NOW)
    maint.start(am, ["db-2"], dt.timedelta(hours=1), "disk swap", "binh (pdic)", NOW)
    maint.end(am, first)
    [open_one] = maint.windows(am)
    assert open_one.hosts == ("db-2",) and open_one.comment == "disk swap"
    assert open_one.ends.startswith("2026-12-06T22:00:00")
    assert [w.state for w in maint.windows(am, active_only=False)] == ["expired", "active"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["maint", "start", "-l", "db-9", "--for", "2h", "-r", "x"], "matches no host or group"),
        (["maint", "start", "-l", "db", "--for", "0m", "-r", "x"], "must be more than 0"),
        (["maint", "start", "-l", "db", "--for", "8d", "-r", "x"], "at most 7 days"),
        (["maint", "start", "-l", "db", "--for", "soon", "-r", "x"], "not a duration"),
        (["maint", "start", "-l", "db", "--for", "2h", "-r", " "], "must say what is done"),
        (["maint", "start", "-l", "db", "--for", "2h", "-r", "a\nb"], "must say what is done"),
        (["maint", "end", "x; rm -rf /"], "is not a window id"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_window_over_every_host_of_a_service_also_silences_its_alerts_without_a_host() -> None:
    # portal-1 is the lab's only portal host: the sites' probes (service=portal, no host label)
    # belong to the window; eoffice-1 alone is its group too, hcc-1 is not in the window.
    am = FakeAlertmanager()
    inventory = load_inventory(LAB)
    assert maint.whole_services(inventory, ["portal-1", "eoffice-1"]) == ["eoffice", "portal"]
    with REAL_WINDOW(inventory, ["portal-1", "eoffice-1"], "pdic patch", request=am) as wid:
        others = [s for sid, s in am.silences.items() if sid != wid]
        assert len(others) == 1, am.silences
        assert others[0]["matchers"] == [
            {"name": "service", "value": "eoffice|portal", "isRegex": True, "isEqual": True},
            {"name": "host", "value": "", "isRegex": False, "isEqual": True},
        ]
        assert others[0]["comment"].startswith("pdic patch (services eoffice, portal")
    assert {s["status"]["state"] for s in am.silences.values()} == {"expired"}
    # db-1 alone leaves db-2 serving: no service is wholly inside.
    assert maint.whole_services(inventory, ["db-1"]) == []
