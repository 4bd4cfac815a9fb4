"""`pdic app upgrade APP VERSION` and `pdic app rollback APP`: rolling, health-gated changes of
an application's release on the hosts of its group, over a transport.

Upgrade, per batch of ``serial`` hosts, in inventory order:

1. the batch's application servers are marked ``down`` in the application's nginx upstream on
   every proxy (the hosts of the group: each one's nginx balances over all of them), and nginx
   is reloaded there, so no request reaches them;
2. on each host of the batch the version's artifact is installed beside the others and made
   current, and the application restarted (``pdic-app-release``);
3. each host's ``/healthz`` (on its own port, not through nginx) must answer 200 within
   ``timeout`` seconds;
4. a host that does not is rolled back to the release it ran before (and its health checked
   again); every host that is healthy goes back into the upstream.

It stops after the first batch with a failure: the hosts after it are left untouched, and the
report says what happened on each host. Hosts already at the version are left as they are.
Rollback goes back one step of each host's history the same way, batch by batch, and stops at
the first host that is not healthy afterwards. Before anything changes, every host's releases
are read; one that cannot be read stops the command.

The planning and the report are pure; the steps on hosts are a :class:`Transport`
(:class:`pdic.app.transport.PyinfraTransport` over SSH; a fake one in the unit tests). The
inventory is not changed: the command says which ``version`` to write there, or the next
``pdic deploy`` puts the inventory's back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pdic.app.model import AppError, Application, Artifact
from pdic.app.names import server_address

UPGRADED = "upgraded"
UNCHANGED = "unchanged"
ROLLED_BACK = "rolled back"
FAILED = "FAILED"
UNTOUCHED = "untouched"


@dataclass(frozen=True)
class Release:
    """What a host runs: its current and previous versions (pdic-app-release status)."""

    current: str | None
    previous: str | None


@dataclass(frozen=True)
class Health:
    """One answer of /healthz: the HTTP status (0: no answer) and the start of the body."""

    status: int
    body: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


class Transport(Protocol):
    """The steps on hosts, for one application. Each raises on failure (any exception)."""

    def release(self, host: str) -> Release: ...

    def set_down(self, proxy: str, down: Collection[str]) -> None:
        """On ``proxy``, mark exactly the servers ``down`` of the application's upstream down
        (the others up) and reload nginx."""

    def install(self, host: str, artifact: Artifact) -> None: ...

    def switch(self, host: str, version: str) -> None:
        """Make ``version`` current (the one before becomes previous) and restart."""

    def rollback(self, host: str) -> str:
        """Back one step of the history, restart; the version now current."""

    def health(self, host: str) -> Health: ...


@dataclass
class HostReport:
    host: str
    before: str | None = None
    after: str | None = None
    state: str = UNTOUCHED
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.state == FAILED


@dataclass
class Report:
    action: str
    app: str
    version: str | None
    serial: int
    hosts: list[HostReport] = field(default_factory=list)
    stopped_at: str | None = None
    interrupted: bool = False
    still_down: dict[str, list[str]] = field(default_factory=dict)
    """Proxy -> the hosts its nginx still marks down when the command ends."""

    @property
    def ok(self) -> bool:
        return (
            self.stopped_at is None
            and not self.interrupted
            and not any(h.failed for h in self.hosts)
        )

    def lines(self) -> list[str]:
        target = f" {self.version}" if self.version else ""
        head = f"pdic app {self.action} {self.app}{target}: "
        head += (
            "OK"
            if self.ok
            else ("INTERRUPTED" if self.interrupted else "FAILED")
            + (f" at {self.stopped_at}" if self.stopped_at else "")
        )
        head += f" ({len(self.hosts)} host(s), serial {self.serial})"
        width = max((len(h.host) for h in self.hosts), default=0)
        out = [head]
        for h in self.hosts:
            change = (
                f"{h.before or '-'} -> {h.after or '-'}"
                if h.after != h.before
                else f"{h.before or '-'}"
            )
            line = f"  {h.host.ljust(width)}  {change.ljust(10)}  {h.state}"
            out.append(line + (f": {h.detail}" if h.detail else ""))
        for proxy, hosts in sorted(self.still_down.items()):
            out.append(
                f"  nginx on {proxy} still marks {', '.join(hosts)} down: once healthy, "
                f"`pdic deploy --limit {proxy} --tags apps` puts them back"
            )
        return out


MAX_TIMEOUT = 3600
"""A host gets at most an hour to answer /healthz: a longer wait is a typo or an infinity."""


def check_timeout(timeout: float) -> float:
    """``--timeout``: a finite number of seconds, more than 0 and at most MAX_TIMEOUT."""
    if not 0 < timeout <= MAX_TIMEOUT:  # NaN fails every comparison, infinity the second
        raise AppError(
            f"--timeout: {timeout:g} is not a number of seconds > 0 and <= {MAX_TIMEOUT}"
        )
    return timeout


def batches(hosts: Sequence[str], serial: int) -> list[list[str]]:
    """``hosts`` in consecutive groups of ``serial`` (the last one may be smaller)."""
    if serial < 1:
        raise AppError(f"--serial: {serial} is not a whole number >= 1")
    return [list(hosts[i : i + serial]) for i in range(0, len(hosts), serial)]


def mark_down(conf: str, upstream: str, down: Collection[str]) -> str:
    """nginx's site file ``conf`` with exactly the servers ``down`` of ``upstream`` marked down.

    The nginx role writes an upstream as ``upstream NAME {`` then one ``server ADDRESS;`` line
    per server; only those lines of that block change. AppError if the block is not there.
    """
    lines = conf.splitlines(keepends=True)
    start = f"upstream {upstream} {{"
    try:
        first = next(i for i, line in enumerate(lines) if line.strip() == start)
    except StopIteration:
        raise AppError(
            f"no upstream {upstream} in nginx's site file: deploy the application first "
            "(playbooks/apps.yml)"
        ) from None
    server = re.compile(r"^(\s*server\s+)(\S+?)(\s+down)?;(\s*)$")
    for i in range(first + 1, len(lines)):
        if lines[i].strip() == "}":
            break
        match = server.match(lines[i])
        if match:
            mark = " down" if match[2] in down else ""
            lines[i] = f"{match[1]}{match[2]}{mark};{match[4]}"
    return "".join(lines)


def wait_healthy(
    transport: Transport,
    host: str,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    every: float = 1.0,
) -> Health:
    """Ask ``host``'s /healthz until it answers 200 or ``timeout`` seconds have passed; the
    last answer."""
    deadline = clock() + timeout
    while True:
        try:
            answer = transport.health(host)
        except Exception as exc:
            answer = Health(0, _why(exc))
        if answer.ok or clock() >= deadline:
            return answer
        sleep(every)


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _short(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass
class Upstream:
    """One application's nginx upstream on its proxies (the hosts of its group: each one's
    nginx balances over all of them), and which of its servers they were told to mark down.

    ``set_on`` does it on one proxy (exactly those servers down, nginx reloaded); it is
    :meth:`Transport.set_down` here and the same step of `pdic patch`'s transport there.
    """

    name: str
    proxies: Sequence[str]
    servers: dict[str, str]
    """Host -> its server address in the upstream (``ADDRESS:PORT``)."""
    set_on: Callable[[str, Collection[str]], None]
    say: Callable[[str], None] = lambda _: None
    down: set[str] = field(default_factory=set)
    applied: dict[str, frozenset[str]] = field(default_factory=dict)
    """Proxy -> the servers its nginx was last told to mark down (successfully)."""

    def set_down(self, hosts: Collection[str], out: bool) -> None:
        """Mark ``hosts`` down (``out``) or up on every proxy. When a proxy fails, those that
        took the change are set back as they were (as far as they answer), then it raises."""
        before = frozenset(self.down)
        addresses = {self.servers[h] for h in hosts}
        want = frozenset(before | addresses if out else before - addresses)
        changed = []
        try:
            for proxy in self.proxies:
                self.set_on(proxy, sorted(want))
                self.applied[proxy] = want
                changed.append(proxy)
        except BaseException:
            for proxy in changed:
                try:
                    self.set_on(proxy, sorted(before))
                    self.applied[proxy] = before
                except Exception:  # left as it is: the report names it
                    continue
            raise
        self.down = set(want)
        verb = "out of" if out else "back into"
        self.say(f"{', '.join(hosts)}: {verb} the nginx upstream {self.name}")

    def is_down(self, host: str) -> bool:
        return self.servers[host] in self.down

    def still_down(self) -> dict[str, list[str]]:
        by_address = {a: h for h, a in self.servers.items()}
        return {
            proxy: [by_address[a] for a in sorted(marked)]
            for proxy, marked in self.applied.items()
            if marked
        }


@dataclass
class _Run:
    """What one command needs while it runs: the application, its hosts and the transport."""

    app: Application
    hosts: Sequence[str]
    servers: dict[str, str]
    transport: Transport
    timeout: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    say: Callable[[str], None]
    upstream: Upstream = field(init=False)

    def __post_init__(self) -> None:
        self.upstream = Upstream(
            self.app.upstream, self.hosts, self.servers, self.transport.set_down, self.say
        )

    def set_down(self, hosts: Collection[str], out: bool) -> None:
        self.upstream.set_down(hosts, out)

    def still_down(self) -> dict[str, list[str]]:
        return self.upstream.still_down()

    def healthy(self, host: str) -> Health:
        return wait_healthy(self.transport, host, self.timeout, self.clock, self.sleep)

    def read(self, report: Report) -> dict[str, Release] | None:
        """Every host's release, or None (report stopped) if one cannot be read."""
        releases = {}
        for host in self.hosts:
            try:
                releases[host] = self.transport.release(host)
            except Exception as exc:
                report.stopped_at = host
                for h in report.hosts:
                    if h.host == host:
                        h.state, h.detail = FAILED, f"cannot read its releases: {_why(exc)}"
                return None
            for h in report.hosts:
                if h.host == host:
                    h.before = h.after = releases[host].current
        return releases


def _start(
    action: str,
    version: str | None,
    app: Application,
    addresses: dict[str, str],
    transport: Transport,
    serial: int,
    timeout: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    say: Callable[[str], None],
) -> tuple[_Run, Report, list[list[str]], dict[str, Release] | None]:
    """What upgrade and rollback begin with: the batches, the run, its report and every host's
    release (None when one cannot be read: the report says where it stopped)."""
    groups = batches(list(addresses), serial)
    check_timeout(timeout)
    servers = {host: server_address(address, app.port) for host, address in addresses.items()}
    run = _Run(app, list(addresses), servers, transport, timeout, clock, sleep, say)
    report = Report(action, app.name, version, serial, [HostReport(h) for h in run.hosts])
    return run, report, groups, run.read(report)


def upgrade(
    app: Application,
    version: str,
    addresses: dict[str, str],
    transport: Transport,
    *,
    serial: int = 1,
    timeout: float = 60,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = lambda _: None,
) -> Report:
    """Upgrade ``app`` to ``version`` on the hosts of ``addresses`` (host -> address, in order)."""
    artifact = app.artifact(version)
    run, report, groups, releases = _start(
        "upgrade", artifact.version, app, addresses, transport, serial, timeout, clock, sleep, say
    )
    by_host = {h.host: h for h in report.hosts}
    if releases is None:
        return report
    try:
        for batch in groups:
            todo = [h for h in batch if releases[h].current != artifact.version]
            for host in batch:
                if host not in todo:
                    by_host[host].state = UNCHANGED
            if not todo:
                continue
            failed = _upgrade_batch(run, todo, artifact, by_host)
            if failed:
                report.stopped_at = failed[0]
                break
    except KeyboardInterrupt:
        _interrupted(run, report)
    report.still_down = run.still_down()
    return report


def _interrupted(run: _Run, report: Report) -> None:
    """Ctrl-C: the report says where; the hosts of the batch being changed are named."""
    report.interrupted = True
    busy = [h for h in report.hosts if h.state == UNTOUCHED and run.upstream.is_down(h.host)]
    for line in busy:
        line.state = FAILED
        line.detail = "interrupted while it was being changed: check its release and health"
    report.stopped_at = busy[0].host if busy else report.stopped_at


def _take_out(run: _Run, hosts: list[str], by_host: dict[str, HostReport]) -> bool:
    """``hosts`` out of the upstream on every proxy; False (hosts failed) if that fails."""
    try:
        run.set_down(hosts, out=True)
    except Exception as exc:
        for host in hosts:
            by_host[host].state = FAILED
            by_host[host].detail = f"could not be taken out of nginx: {_why(exc)}"
        return False
    return True


def _put_back(run: _Run, hosts: list[str], by_host: dict[str, HostReport]) -> None:
    """``hosts`` back into the upstream on every proxy; they fail if that fails."""
    if not hosts:
        return
    try:
        run.set_down(hosts, out=False)
    except Exception as exc:
        for host in hosts:
            line = by_host[host]
            line.state = FAILED
            line.detail = "; ".join(filter(None, [line.detail, f"not back in nginx: {_why(exc)}"]))


def _unhealthy(run: _Run, answer: Health) -> str:
    return (
        f"/healthz answered {answer.status or 'nothing'} for {run.timeout:g} s "
        f"({_short(answer.body)})"
    )


def _upgrade_batch(
    run: _Run, batch: list[str], artifact: Artifact, by_host: dict[str, HostReport]
) -> list[str]:
    """Upgrade one batch; the hosts that failed, in order."""
    if not _take_out(run, batch, by_host):
        return batch
    switched: list[str] = []
    healthy: list[str] = []
    for host in batch:
        line = by_host[host]
        try:
            run.transport.install(host, artifact)
            run.say(f"{host}: {artifact.version} installed")
        except Exception as exc:
            line.state, line.detail = FAILED, f"install failed: {_why(exc)}"
            if run.healthy(host).ok:  # it still runs what it ran: back into nginx
                line.detail += f"; still runs {line.before}"
                healthy.append(host)
            continue
        switched.append(host)
        line.after = artifact.version  # also if the switch fails: the links may have moved
        try:
            run.transport.switch(host, artifact.version)
            run.say(f"{host}: {artifact.version} is current, restarted")
        except Exception as exc:
            line.state, line.detail = FAILED, f"switch failed: {_why(exc)}"
    for host in switched:
        line = by_host[host]
        if line.state != FAILED:
            answer = run.healthy(host)
            if answer.ok:
                line.state = UPGRADED
                healthy.append(host)
                run.say(f"{host}: /healthz 200")
                continue
            line.state, line.detail = FAILED, _unhealthy(run, answer)
        run.say(f"{host}: {line.detail}; rolling back")
        try:
            line.after = run.transport.rollback(host)
        except Exception as exc:
            line.detail += f"; rollback FAILED: {_why(exc)}; left out of nginx"
            continue
        back = run.healthy(host)
        if back.ok:
            healthy.append(host)
            line.detail += f"; rolled back to {line.after}, healthy"
        else:
            line.detail += (
                f"; rolled back to {line.after}, /healthz {back.status or 'nothing'}: left out "
                "of nginx"
            )
    _put_back(run, [h for h in batch if h in healthy], by_host)
    return [h for h in batch if by_host[h].failed]


def rollback(
    app: Application,
    addresses: dict[str, str],
    transport: Transport,
    *,
    serial: int = 1,
    timeout: float = 60,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = lambda _: None,
) -> Report:
    """Each host of ``addresses`` back to its previous release, batch by batch."""
    run, report, groups, releases = _start(
        "rollback", None, app, addresses, transport, serial, timeout, clock, sleep, say
    )
    by_host = {h.host: h for h in report.hosts}
    if releases is None:
        return report
    try:
        _rollback_batches(run, report, groups, releases, by_host)
    except KeyboardInterrupt:
        _interrupted(run, report)
    report.still_down = run.still_down()
    return report


def _rollback_batches(
    run: _Run,
    report: Report,
    groups: list[list[str]],
    releases: dict[str, Release],
    by_host: dict[str, HostReport],
) -> None:
    for batch in groups:
        for host in batch:
            if releases[host].previous is None:
                by_host[host].state = FAILED
                by_host[host].detail = "no previous release to roll back to"
        if not any(by_host[h].failed for h in batch) and _take_out(run, batch, by_host):
            healthy = []
            for host in batch:
                line = by_host[host]
                try:
                    line.after = run.transport.rollback(host)
                except Exception as exc:
                    line.state = FAILED
                    line.detail = f"rollback failed: {_why(exc)}; left out of nginx"
                    continue
                answer = run.healthy(host)
                if answer.ok:
                    line.state = ROLLED_BACK
                    healthy.append(host)
                else:
                    line.state = FAILED
                    line.detail = f"{_unhealthy(run, answer)}: left out of nginx"
            _put_back(run, healthy, by_host)
        failed = [h for h in batch if by_host[h].failed]
        if failed:
            report.stopped_at = failed[0]
            return


def inventory_hint(app: Application, report: Report) -> str | None:
    """What to write in the inventory after a successful run, if it now says another version."""
    if not report.ok:
        return None
    running = {h.after for h in report.hosts if h.after}
    if len(running) != 1:
        return None
    (version,) = running
    if version == app.version:
        return None
    return (
        f'now set version: "{version}" for {app.name} in pdic_applications; until then '
        f"`pdic deploy` makes {app.version} current again"
    )
