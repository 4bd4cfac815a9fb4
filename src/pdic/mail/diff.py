"""`pdic mail diff`: what a deploy would change in each mail host's mailboxes.

The host's current list comes from ``pdic-mail-sync list`` (address, quota, state; never a
hash), read over SSH as the operations account with sudo; the inventory's list for that host
from :func:`pdic.mail.model.inventory_rows`; the comparison is the helper's own
:func:`pdic.mail.hostsync.plan`, so this shows exactly what the role's next run does. A host
the mail role has not run on yet shows every mailbox as added.

It changes nothing on the hosts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pdic.inventory import Host, Inventory
from pdic.mail import hostsync
from pdic.mail.model import SYNC_COMMAND, Connect, inventory_rows, run_on, select_hosts

NOT_DEPLOYED = "pdic-mail-sync: not installed"


@dataclass(frozen=True)
class HostDiff:
    """One host's plan, the quotas of the mailboxes to add, or why it could not be read."""

    host: str
    plan: hostsync.Plan | None
    quotas: dict[str, str]
    error: str = ""


def read_current(host: Host, connect: Connect) -> tuple[dict[str, hostsync.Mailbox], str]:
    """The host's mailboxes (none where the role never ran) or an error."""
    output, error = run_on(
        host,
        connect,
        f"if [ -x {SYNC_COMMAND} ]; then {SYNC_COMMAND} list; else echo '{NOT_DEPLOYED}'; fi",
    )
    if error or output.strip() == NOT_DEPLOYED:
        return {}, error
    try:
        return hostsync.parse_list(output), ""
    except hostsync.SyncError as exc:
        return {}, str(exc)


def host_diff(inventory: Inventory, host: Host, connect: Connect) -> HostDiff:
    current, error = read_current(host, connect)
    if error:
        return HostDiff(host.name, None, {}, error)
    desired = hostsync.desired_from_json(inventory_rows(inventory, host.name))
    plan = hostsync.plan(desired, current)
    return HostDiff(host.name, plan, {a: desired[a].quota for a in plan.add})


def collect(inventory: Inventory, limit: str | None, connect: Connect) -> list[HostDiff]:
    hosts = select_hosts(inventory, limit)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(hosts)))) as pool:
        return list(pool.map(lambda h: host_diff(inventory, h, connect), hosts))


def format_text(diffs: Sequence[HostDiff]) -> str:
    """One summary line per host, then one line per mailbox that would change."""
    lines = []
    for diff in diffs:
        if diff.plan is None:
            lines.append(f"{diff.host}: could not be read: {diff.error}")
            continue
        plan = diff.plan
        if not plan.touched:
            lines.append(f"{diff.host}: no change")
            continue
        lines.append(
            f"{diff.host}: add {len(plan.add)}, remove {len(plan.remove)} (archived), "
            f"disable {len(plan.disable)}, enable {len(plan.enable)}, "
            f"change quota {len(plan.quota)}"
        )
        lines += [f"  + {a} ({diff.quotas[a]})" for a in plan.add]
        lines += [f"  - {a} (its Maildir is archived)" for a in plan.remove]
        lines += [f"  ~ {a}: disabled" for a in plan.disable]
        lines += [f"  ~ {a}: enabled" for a in plan.enable]
        lines += [f"  ~ {a}: quota {old} -> {new}" for a, old, new in plan.quota]
    return "\n".join(lines) + "\n"


def format_json(diffs: Sequence[HostDiff]) -> str:
    out = [
        {"host": d.host, "error": d.error}
        if d.plan is None
        else {"host": d.host, **d.plan.as_json(), "quotas_added": d.quotas}
        for d in diffs
    ]
    return json.dumps(out, indent=2) + "\n"
