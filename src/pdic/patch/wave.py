"""A patch wave: Debian updates installed host by host, each gated by its health checks.

First every selected host's pending updates are read (``apt-get update``, then apt's
simulation); one that cannot be read stops the command before anything changes, and
``--check`` stops there. Then, in the order of :func:`pdic.patch.plan.plan`, batch by batch:

1. the batch's hosts that serve in an application's nginx upstream with peers are marked down
   on every proxy of it (:class:`pdic.app.upgrade.Upstream`, as `pdic app upgrade` does);
2. on each host, one after the other: the updates are installed; if ``/run/reboot-required``
   exists and ``reboot`` is ``auto`` the host is rebooted and must answer SSH again within
   ``timeout`` seconds; otherwise the services that still map a deleted library are restarted
   (a reboot restarts them all), and ``reboot: never`` reports "reboot required";
3. its health checks (:func:`pdic.patch.plan.checks`) must all pass within ``timeout`` seconds;
4. the hosts that are healthy go back into their upstreams.

The first failure (an install, a host not back, a check still failing) stops the wave: the
failed host goes back into its upstream only if its checks pass, the hosts after it are
untouched, and the report lists every host. Ctrl-C stops it the same way: the hosts taken out
go back when their checks pass. Hosts without pending updates are not touched at all.

The steps on hosts are a :class:`Transport` (:mod:`pdic.patch.transport` over SSH; a fake in
the unit tests); the order, the decisions and the report are here.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from pdic.app.upgrade import MAX_TIMEOUT, Upstream
from pdic.errors import PdicError
from pdic.inventory import Host, Inventory
from pdic.patch.apt import Update, to_restart
from pdic.patch.plan import Check, Plan, batches, checks, plan, upstreams

PATCHED = "patched"
UNCHANGED = "unchanged"
PENDING = "pending"
READERS = 8
"""Hosts whose pending updates are read at the same time."""
SKIPPED = "skipped"
FAILED = "FAILED"
UNTOUCHED = "untouched"
REBOOTS = ("auto", "never")


class PatchError(PdicError):
    """`pdic patch` got bad input (nothing was done)."""


class Transport(Protocol):
    """The steps of a patch on hosts. Each raises on failure (any exception, one line)."""

    def pending(self, host: str) -> list[Update]:
        """``apt-get update``, then the updates apt would install."""

    def set_down(self, app: str, upstream: str, proxy: str, down: Collection[str]) -> None:
        """On ``proxy``, exactly the servers ``down`` of ``upstream`` marked down, nginx
        reloaded."""

    def install(self, host: str) -> None: ...

    def reboot_required(self, host: str) -> bool: ...

    def stale_units(self, host: str) -> list[str]:
        """The systemd services that still run code an update replaced."""

    def restart(self, host: str, units: Sequence[str]) -> None: ...

    def reboot(self, host: str) -> None:
        """Start a reboot and return (the host drops its connections)."""

    def wait_back(self, host: str, timeout: float) -> None:
        """Return once ``host`` answers over SSH again after its reboot; raise after
        ``timeout`` seconds."""

    def check(self, host: str, check: Check) -> str:
        """Run ``check``; its one-line result, or raise with the one-line reason."""


@dataclass
class HostReport:
    host: str
    group: str = ""
    state: str = UNTOUCHED
    updates: list[Update] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    rebooted: bool = False
    reboot_required: bool = False
    step: str = ""
    detail: str = ""
    results: list[tuple[str, bool, str]] = field(default_factory=list)
    """The last health check results: (name, passed, one line)."""

    @property
    def failed(self) -> bool:
        return self.state == FAILED

    def line(self, width: int) -> str:
        head = f"  {self.host.ljust(width)}  "
        if self.state == PATCHED:
            text = (
                f"patched: {len(self.updates)} package(s), restarted "
                f"{', '.join(self.restarted) or 'nothing'}, rebooted: "
                f"{'yes' if self.rebooted else 'no'}"
            )
            if self.reboot_required and not self.rebooted:
                text += ", reboot required"
        elif self.state == FAILED:
            text = (
                f"FAILED at {self.step}: {self.detail}" if self.step else f"FAILED: {self.detail}"
            )
        elif self.state == PENDING:
            text = f"{len(self.updates)} update(s) pending"
        else:
            text = self.state + (f": {self.detail}" if self.detail else "")
        return head + text


@dataclass
class Report:
    serial: int
    reboot: str
    check: bool = False
    hosts: list[HostReport] = field(default_factory=list)
    stopped_at: str | None = None
    interrupted: bool = False
    still_down: dict[str, list[str]] = field(default_factory=dict)
    """Proxy -> the hosts its nginx still marks down when the command ends."""
    pending_shown: bool = False
    """The pending updates were shown before the wave began (not again with the report)."""

    @property
    def ok(self) -> bool:
        return (
            not self.interrupted
            and self.stopped_at is None
            and not any(h.failed for h in self.hosts)
        )

    def host(self, name: str) -> HostReport:
        return next(h for h in self.hosts if h.host == name)

    def pending_lines(self) -> list[str]:
        """Each host's pending updates, as read before anything changed."""
        out = []
        for h in self.hosts:
            if h.state == FAILED and not h.updates:
                continue
            out.append(f"{h.host}: {len(h.updates)} update(s) pending")
            out.extend(f"    {u.line()}" for u in h.updates)
        return out

    def lines(self) -> list[str]:
        verdict = "OK" if self.ok else ("INTERRUPTED" if self.interrupted else "FAILED")
        if self.stopped_at:
            verdict += f" at {self.stopped_at}"
        head = f"pdic patch{' (check)' if self.check else ''}: {verdict} "
        head += f"({len(self.hosts)} host(s), serial {self.serial}, reboot {self.reboot})"
        width = max((len(h.host) for h in self.hosts), default=0)
        out = [head, *(h.line(width) for h in self.hosts)]
        for proxy, hosts in sorted(self.still_down.items()):
            out.append(
                f"  nginx on {proxy} still marks {', '.join(hosts)} down: once healthy, "
                f"`pdic deploy --limit {proxy} --tags apps` puts them back"
            )
        return out


def check_arguments(serial: int, reboot: str, timeout: float) -> None:
    """PatchError (bad input) unless ``--serial`` >= 1, ``--reboot`` auto or never and
    ``--timeout`` a number of seconds > 0 and <= MAX_TIMEOUT."""
    if serial < 1:
        raise PatchError(f"--serial: {serial} is not a whole number >= 1")
    if reboot not in REBOOTS:
        raise PatchError(f"--reboot: {reboot!r} is not one of {', '.join(REBOOTS)}")
    if not 0 < timeout <= MAX_TIMEOUT:  # NaN fails every comparison, infinity the second
        raise PatchError(
            f"--timeout: {timeout:g} is not a number of seconds > 0 and <= {MAX_TIMEOUT}"
        )


def why(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if text else type(exc).__name__


@dataclass
class _Wave:
    inventory: Inventory
    plan: Plan
    transport: Transport
    report: Report
    reboot: str
    timeout: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    say: Callable[[str], None]
    upstreams: list[Upstream] = field(default_factory=list)
    out: set[str] = field(default_factory=set)
    """Hosts taken out of an upstream and not put back yet."""

    def __post_init__(self) -> None:
        for app, name, servers in upstreams(self.inventory):
            self.upstreams.append(
                Upstream(
                    name,
                    list(servers),
                    servers,
                    functools.partial(self.set_on, app, name),
                    self.say,
                )
            )

    def set_on(self, app: str, upstream: str, proxy: str, down: Collection[str]) -> None:
        self.transport.set_down(app, upstream, proxy, down)

    def serving(self, hosts: Collection[str]) -> list[tuple[Upstream, list[str]]]:
        found = []
        for upstream in self.upstreams:
            mine = [h for h in hosts if h in upstream.servers]
            if mine:
                found.append((upstream, mine))
        return found

    def take_out(self, hosts: list[str]) -> None:
        for upstream, mine in self.serving(hosts):
            upstream.set_down(mine, out=True)
            self.out.update(mine)

    def put_back(self, hosts: list[str]) -> None:
        for upstream, mine in self.serving([h for h in hosts if h in self.out]):
            try:
                upstream.set_down(mine, out=False)
            except Exception as exc:
                for host in mine:
                    line = self.report.host(host)
                    line.state = FAILED
                    line.step = line.step or "back into service"
                    line.detail = "; ".join(
                        filter(None, [line.detail, f"not back in nginx: {why(exc)}"])
                    )
                continue
            self.out.difference_update(mine)

    def still_down(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for upstream in self.upstreams:
            for proxy, hosts in upstream.still_down().items():
                found.setdefault(proxy, []).extend(hosts)
        return found

    def health(self, host: str, wait: bool = True) -> bool:
        """Every check of ``host`` passes (within ``timeout`` seconds when ``wait``); the
        report keeps the last results."""
        line = self.report.host(host)
        deadline = self.clock() + self.timeout
        wanted = checks(self.inventory, self.inventory.hosts[host])
        while True:
            results = []
            for check in wanted:
                try:
                    results.append((check.name, True, self.transport.check(host, check)))
                except Exception as exc:
                    results.append((check.name, False, why(exc)))
            line.results = results
            if all(ok for _, ok, _ in results):
                return True
            if not wait or self.clock() >= deadline:
                return False
            self.sleep(2.0)

    def unhealthy(self, host: str) -> str:
        failing = [(n, text) for n, ok, text in self.report.host(host).results if not ok]
        first = f"{failing[0][0]}: {failing[0][1]}" if failing else "?"
        more = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
        return f"{first}{more} after {self.timeout:g} s"

    def patch_host(self, host: str) -> None:
        """The steps on one host; raises on the first that fails (line.step names it)."""
        line = self.report.host(host)
        line.step = "install"
        self.transport.install(host)
        self.say(f"{host}: {len(line.updates)} package(s) installed")
        line.step = "reboot check"
        line.reboot_required = self.transport.reboot_required(host)
        if line.reboot_required and self.reboot == "auto":
            line.step = "reboot"
            self.transport.reboot(host)
            self.say(f"{host}: rebooting")
            line.step = "back after reboot"
            self.transport.wait_back(host, self.timeout)
            line.rebooted = True
            self.say(f"{host}: back after its reboot")
        else:
            line.step = "restart"
            restart, left = to_restart(self.transport.stale_units(host))
            if restart:
                self.transport.restart(host, restart)
                line.restarted = restart
                self.say(f"{host}: restarted {', '.join(restart)}")
            if left:
                line.reboot_required = True
                self.say(f"{host}: {', '.join(left)} not restarted: takes effect at a reboot")
            if line.reboot_required:
                self.say(f"{host}: reboot required (--reboot {self.reboot})")
        line.step = "health"
        if not self.health(host):
            raise _Unhealthy(self.unhealthy(host))
        self.say(f"{host}: healthy ({len(line.results)} check(s))")
        line.step = ""
        line.state = PATCHED

    def batch(self, hosts: list[str]) -> bool:
        """Patch one batch; False if a host failed (the wave stops)."""
        try:
            self.take_out(hosts)
        except Exception as exc:
            for host in hosts:
                line = self.report.host(host)
                line.state, line.step, line.detail = FAILED, "out of service", why(exc)
            return False
        done: list[str] = []
        failed = None
        for host in hosts:
            try:
                self.patch_host(host)
            except Exception as exc:
                failed = host
                self.fail(host, exc)
                break
            done.append(host)
        self.put_back(done)
        return failed is None and not any(self.report.host(h).failed for h in hosts)

    def fail(self, host: str, exc: BaseException) -> None:
        """``host`` failed: back into service only if its checks pass now."""
        line = self.report.host(host)
        line.state, line.detail = FAILED, why(exc)
        if host not in self.out:
            return
        healthy = not isinstance(exc, _Unhealthy) and self.health(host, wait=False)
        if healthy:
            self.put_back([host])
            line.detail += "; its checks pass: back in service"
        else:
            line.detail += "; unhealthy: left out of the nginx upstream"


class _Unhealthy(Exception):
    """A host's checks still fail after the timeout."""


def patch(
    inventory: Inventory,
    selected: Sequence[Host],
    transport: Transport,
    *,
    serial: int = 1,
    reboot: str = "auto",
    allow_outage: bool = False,
    timeout: float = 600,
    check: bool = False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = lambda _: None,
    shown: Callable[[list[str]], None] | None = None,
) -> Report:
    """Patch the ``selected`` hosts (see the module's docstring); the report of every host.
    ``shown`` gets the pending updates once they are read, before anything changes (the
    report's :meth:`Report.pending_lines` then says so through ``pending_shown``)."""
    check_arguments(serial, reboot, timeout)
    order = plan(inventory, selected, allow_outage)
    report = Report(serial, reboot, check)
    for host in order.order:
        report.hosts.append(HostReport(host, order.group_of(host).name))
    for host in order.skipped:
        report.hosts.append(HostReport(host, detail=order.skipped[host]))
    wave = _Wave(inventory, order, transport, report, reboot, timeout, clock, sleep, say)
    try:
        if not _read(wave):
            return report
        if check:
            return report
        if shown is not None:
            shown(report.pending_lines())
            report.pending_shown = True
        for group in order.groups:
            todo = [h for h in group.hosts if report.host(h).state == UNTOUCHED]
            for hosts in batches(group, todo, serial):
                if not wave.batch(hosts):
                    report.stopped_at = next(h for h in hosts if report.host(h).failed)
                    report.still_down = wave.still_down()
                    return report
    except KeyboardInterrupt:
        _interrupted(wave)
    report.still_down = wave.still_down()
    return report


def _read(wave: _Wave) -> bool:
    """Every host's pending updates (states set); False if one cannot be read."""
    report = wave.report
    # Read side by side (apt-get update waits on the mirror, not on this machine); a failure
    # is reported at the first host, in the plan's order, that could not be read.
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        reads = [pool.submit(wave.transport.pending, line.host) for line in report.hosts]
    for line, read in zip(report.hosts, reads, strict=True):
        exc = read.exception()
        if exc is not None:
            line.state, line.step, line.detail = FAILED, "read updates", why(exc)
            report.stopped_at = line.host
            return False
        line.updates = read.result()
        if line.host in wave.plan.skipped:
            line.state = SKIPPED
            if line.updates:
                line.detail += f" ({len(line.updates)} update(s) pending)"
        elif not line.updates:
            line.state = UNCHANGED
        elif report.check:
            line.state = PENDING
    return True


def _interrupted(wave: _Wave) -> None:
    """Ctrl-C: the host being changed is named; those taken out go back if healthy."""
    report = wave.report
    report.interrupted = True
    for line in report.hosts:
        if line.state == UNTOUCHED and line.step:
            line.state = FAILED
            line.detail = "interrupted here: check the host"
            report.stopped_at = report.stopped_at or line.host
    for host in sorted(wave.out):
        try:
            healthy = wave.health(host, wait=False)
        except KeyboardInterrupt:
            break
        if healthy:
            wave.put_back([host])
            line = report.host(host)
            if line.failed:
                line.detail += "; its checks pass: back in service"
        elif report.host(host).failed:
            report.host(host).detail += "; unhealthy: left out of the nginx upstream"
