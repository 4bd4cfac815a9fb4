"""A fake transport for patch waves: it records every step and fails where it is told."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pdic.inventory import Inventory, load_inventory
from pdic.patch.apt import Update
from pdic.patch.plan import Check

REPO = Path(__file__).resolve().parents[3]


@dataclass
class FakeTransport:
    """``pending`` host -> updates; ``fail`` (host, step) -> the reason that step raises
    (step: pending, install, reboot_required, stale_units, restart, reboot, wait_back,
    set_down (host: the proxy), check or check:NAME); ``interrupt`` (host, step): Ctrl-C
    there, once; ``recovers``: hosts whose failing checks pass once asked again."""

    pending_updates: dict[str, list[Update]] = field(default_factory=dict)
    fail: dict[tuple[str, str], str] = field(default_factory=dict)
    interrupt: tuple[str, str] | None = None
    needs_reboot: set[str] = field(default_factory=set)
    stale: dict[str, list[str]] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    down: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def _step(self, host: str, step: str) -> None:
        if self.interrupt == (host, step):
            self.interrupt = None
            raise KeyboardInterrupt
        if (host, step) in self.fail:
            raise RuntimeError(self.fail[(host, step)])

    def pending(self, host: str) -> list[Update]:
        self.calls.append(("pending", host))
        self._step(host, "pending")
        return self.pending_updates.get(host, [])

    def set_down(self, app: str, upstream: str, proxy: str, down: Collection[str]) -> None:
        self.calls.append(("set_down", proxy, upstream, ",".join(down)))
        self._step(proxy, "set_down")
        self.down[(proxy, upstream)] = list(down)

    def install(self, host: str) -> None:
        self.calls.append(("install", host))
        self._step(host, "install")

    def reboot_required(self, host: str) -> bool:
        self.calls.append(("reboot_required", host))
        self._step(host, "reboot_required")
        return host in self.needs_reboot

    def stale_units(self, host: str) -> list[str]:
        self.calls.append(("stale_units", host))
        self._step(host, "stale_units")
        return self.stale.get(host, [])

    def restart(self, host: str, units: Sequence[str]) -> None:
        self.calls.append(("restart", host, *units))
        self._step(host, "restart")

    def reboot(self, host: str) -> None:
        self.calls.append(("reboot", host))
        self._step(host, "reboot")

    def wait_back(self, host: str, timeout: float) -> None:
        self.calls.append(("wait_back", host))
        self._step(host, "wait_back")

    def check(self, host: str, check: Check) -> str:
        self.calls.append(("check", host, check.name))
        self._step(host, "check")
        self._step(host, f"check:{check.name}")
        return "ok"

    def steps(self, host: str) -> list[str]:
        """The steps run on ``host`` (checks once each time they were asked)."""
        return [c[0] for c in self.calls if len(c) > 1 and c[1] == host and c[0] != "check"]


@pytest.fixture
def lab() -> Inventory:
    return load_inventory(REPO / "inventory" / "lab")


@pytest.fixture
def thaibinh() -> Inventory:
    return load_inventory(REPO / "inventory" / "thaibinh")


class Clock:
    """A clock that moves 1000 s at each reading: any wait gives up at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1000
        return self.now
