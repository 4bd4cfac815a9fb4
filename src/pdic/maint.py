"""Maintenance windows: Alertmanager silences for exactly the hosts a change touches.

On-call staff paged by their colleagues' planned work learn to ignore the pager. Every pdic
command that changes hosts therefore opens a window (:func:`window`) for the hosts it touches,
for as long as it runs: an Alertmanager silence (API v2) matching ``host=~"h1|h2"``, whose
comment names the command and its change-journal record, expired when the command ends, also
on failure or Ctrl-C. Alerts still fire in Prometheus and show in ``pdic status``; only the
notifications wait. A host outside the window is paged as always.

``pdic maint start|list|end`` opens, lists and closes windows for planned work done by hand.
A window pdic opens for a command lasts at most :data:`COMMAND_WINDOW` in case pdic itself is
killed; a window by hand lasts what ``--for`` says.

Alertmanager is the first monitoring host's (port 9093) unless the inventory says
``pdic_alertmanager_url``. When it cannot be reached (a first deploy, before it exists) a
command goes on without a window and says so in one warning line; ``pdic maint`` fails.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pdic.errors import PdicError
from pdic.inventory import Inventory

ALERTMANAGER_PORT = 9093
COMMAND_WINDOW = dt.timedelta(hours=6)
MAX_WINDOW = dt.timedelta(days=7)
CREATED_BY = "pdic"
DURATION = re.compile(r"([0-9]{1,4})([mhd])")
UNIT = {"m": 60, "h": 3600, "d": 86400}


class MaintError(PdicError):
    """A window cannot be opened, listed or closed, or its input is wrong."""


@dataclass(frozen=True)
class Window:
    id: str
    hosts: tuple[str, ...]
    starts: str
    ends: str
    state: str
    comment: str
    created_by: str

    def line(self) -> str:
        return (
            f"{self.id}  {self.state}  {self.starts[:16]} .. {self.ends[:16]}  "
            f"{','.join(self.hosts) or '?'}  {self.created_by}: {self.comment}"
        )


def alertmanager_url(inventory: Inventory) -> str:
    url = inventory.vars.get("pdic_alertmanager_url")
    if url:
        return str(url).rstrip("/")
    from pdic.monitoring.status import monitoring_url

    found = monitoring_url(inventory, ALERTMANAGER_PORT)
    if found is None:
        raise MaintError(f"{inventory.path}: no monitoring host runs Alertmanager")
    return found


def parse_for(text: str) -> dt.timedelta:
    """``--for``: 30m, 2h, 1d (at most a week)."""
    match = DURATION.fullmatch(text)
    if not match:
        raise MaintError(f"--for: {text!r} is not a duration like 30m, 2h or 1d")
    length = dt.timedelta(seconds=int(match[1]) * UNIT[match[2]])
    if not dt.timedelta(0) < length <= MAX_WINDOW:
        raise MaintError(f"--for: {text!r} must be more than 0 and at most 7 days")
    return length


def matcher(hosts: Iterable[str]) -> dict[str, Any]:
    names = sorted(set(hosts))
    if not names:
        raise MaintError("a window needs at least one host")
    return {
        "name": "host",
        "value": "|".join(re.escape(n) for n in names),
        "isRegex": True,
        "isEqual": True,
    }


Request = Callable[[str, str, bytes | None], Any]


def http_request(base: str, timeout: float = 5.0) -> Request:
    """A JSON request to Alertmanager's API; MaintError with one line when it fails."""

    def request(method: str, path: str, body: bytes | None) -> Any:
        req = urllib.request.Request(f"{base}{path}", data=body, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace").strip()[:200]
            raise MaintError(f"Alertmanager at {base}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise MaintError(f"cannot reach Alertmanager at {base}: {reason}") from None
        return json.loads(text) if text.strip() else None

    return request


def start(
    request: Request,
    hosts: Iterable[str],
    length: dt.timedelta,
    comment: str,
    created_by: str = CREATED_BY,
    now: dt.datetime | None = None,
) -> str:
    """Open a window (a silence) for ``hosts``; its id."""
    begin = now or dt.datetime.now(dt.UTC)
    body = {
        "matchers": [matcher(hosts)],
        "startsAt": begin.isoformat(timespec="seconds"),
        "endsAt": (begin + length).isoformat(timespec="seconds"),
        "createdBy": created_by,
        "comment": comment,
    }
    answer = request("POST", "/api/v2/silences", json.dumps(body).encode())
    if not isinstance(answer, dict) or not answer.get("silenceID"):
        raise MaintError(f"Alertmanager gave no silence id: {answer!r}")
    return str(answer["silenceID"])


def end(request: Request, window_id: str) -> None:
    if not re.fullmatch(r"[0-9a-fA-F-]{8,64}", window_id):
        raise MaintError(f"{window_id!r} is not a window id (pdic maint list shows them)")
    request("DELETE", f"/api/v2/silence/{window_id}", None)


def windows(request: Request, active_only: bool = True) -> list[Window]:
    found = []
    for silence in request("GET", "/api/v2/silences", None) or []:
        state = str((silence.get("status") or {}).get("state", ""))
        if active_only and state not in ("active", "pending"):
            continue
        hosts: tuple[str, ...] = ()
        for m in silence.get("matchers") or []:
            if m.get("name") == "host" and m.get("value"):  # "": alerts without a host
                hosts = tuple(h.replace("\\", "") for h in str(m.get("value", "")).split("|"))
        found.append(
            Window(
                str(silence.get("id", "")),
                hosts,
                str(silence.get("startsAt", "")),
                str(silence.get("endsAt", "")),
                state,
                str(silence.get("comment", "")),
                str(silence.get("createdBy", "")),
            )
        )
    found.sort(key=lambda w: w.starts)
    return found


@contextlib.contextmanager
def window(
    inventory: Inventory,
    hosts: Iterable[str],
    comment: str,
    *,
    request: Request | None = None,
    warn: Callable[[str], None] | None = None,
) -> Iterator[str | None]:
    """A window over ``hosts`` for the block (its id, None when Alertmanager cannot be
    reached: the block runs anyway). Closed at the end, also on failure or Ctrl-C."""
    say = warn or (lambda line: print(line, file=sys.stderr))
    names = list(hosts)
    if not names:
        yield None
        return
    try:
        ask = request or http_request(alertmanager_url(inventory))
        window_id: str | None = start(ask, names, COMMAND_WINDOW, comment)
        opened = [str(window_id)]
        services = whole_services(inventory, names)
        if services:
            opened.append(start_services(ask, services, COMMAND_WINDOW, comment))
    except MaintError as exc:
        say(f"pdic: warning: no maintenance window: {exc}")
        yield None
        return
    try:
        yield window_id
    finally:
        for silence in opened:
            try:
                end(ask, silence)
            except MaintError as exc:
                say(f"pdic: warning: maintenance window {silence} not closed: {exc}")


def whole_services(inventory: Inventory, hosts: Iterable[str]) -> list[str]:
    """The services (inventory groups) every host of which is in ``hosts``: while the window
    holds them all, the service itself is out, and its alerts that name no host (the portal
    sites' probes) are part of the window too."""
    inside = set(hosts)
    return sorted(
        group
        for group, members in inventory.groups.items()
        if group != "all" and members and set(members) <= inside
    )


def start_services(
    request: Request,
    services: Iterable[str],
    length: dt.timedelta,
    comment: str,
    created_by: str = CREATED_BY,
    now: dt.datetime | None = None,
) -> str:
    """A silence for the alerts of ``services`` that carry no host label; its id."""
    begin = now or dt.datetime.now(dt.UTC)
    names = sorted(set(services))
    body = {
        "matchers": [
            {
                "name": "service",
                "value": "|".join(re.escape(n) for n in names),
                "isRegex": True,
                "isEqual": True,
            },
            {"name": "host", "value": "", "isRegex": False, "isEqual": True},
        ],
        "startsAt": begin.isoformat(timespec="seconds"),
        "endsAt": (begin + length).isoformat(timespec="seconds"),
        "createdBy": created_by,
        "comment": f"{comment} (services {', '.join(names)}: their alerts without a host)",
    }
    answer = request("POST", "/api/v2/silences", json.dumps(body).encode())
    if not isinstance(answer, dict) or not answer.get("silenceID"):
        raise MaintError(f"Alertmanager gave no silence id: {answer!r}")
    return str(answer["silenceID"])
