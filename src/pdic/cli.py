"""The `pdic` command line: a thin layer over importable functions.

Every command parses its arguments, calls one function of the package and prints the result.
Domain errors (:class:`pdic.errors.PdicError`) become one clear line on stderr and exit code 2,
in :mod:`pdic.exits` and nowhere else. No command holds logic of its own beyond formatting.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pdic.errors import InventoryError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from pdic.bootstrap import HostResult
    from pdic.deploy import DeployResult
    from pdic.inventory import Inventory
    from pdic.journal import Record
    from pdic.lab import HostState, Lab

app = typer.Typer(
    help="Provision, monitor and audit a provincial Data Integration Centre.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
inventory_app = typer.Typer(help="Read and validate inventories.", no_args_is_help=True)
lab_app = typer.Typer(
    help="A lab centre of real booted hosts on this machine.", no_args_is_help=True
)
monitoring_app = typer.Typer(help="Monitoring generated from the inventory.", no_args_is_help=True)
cert_app = typer.Typer(
    help="The centre's certificates: register and revocation.", no_args_is_help=True
)
secrets_app = typer.Typer(
    help="The inventory's generated secrets (Ansible Vault).", no_args_is_help=True
)
db_app = typer.Typer(help="The databases: status, restore drills, promotion.", no_args_is_help=True)
app_app = typer.Typer(
    help="The applications: reference builds, rolling upgrades, rollback.", no_args_is_help=True
)
mail_app = typer.Typer(
    help="The mail hosts: DNS records, mailbox changes, queues.", no_args_is_help=True
)
app.add_typer(inventory_app, name="inventory")
app.add_typer(secrets_app, name="secrets")
app.add_typer(db_app, name="db")
app.add_typer(app_app, name="app")
app.add_typer(mail_app, name="mail")
app.add_typer(cert_app, name="cert")
app.add_typer(lab_app, name="lab")
app.add_typer(monitoring_app, name="monitoring")
maint_app = typer.Typer(
    help="Maintenance windows: the hosts' alerts silenced in Alertmanager while work is done.",
    no_args_is_help=True,
)
app.add_typer(maint_app, name="maint")
agency_app = typer.Typer(
    help="The agencies: their sites, mail and certificates as one unit of change.",
    no_args_is_help=True,
)
app.add_typer(agency_app, name="agency")
admin_app = typer.Typer(
    help="The administrators (pdic_admins): their TOTP codes and enrolment.",
    no_args_is_help=True,
)
app.add_typer(admin_app, name="admin")

DEFAULT_INVENTORY = Path("inventory/lab")

InventoryOpt = Annotated[
    Path,
    typer.Option(
        "--inventory", "-i", help="Inventory directory (hosts.yml, group_vars/, host_vars/)."
    ),
]
LimitOpt = Annotated[
    str | None,
    typer.Option("--limit", "-l", help="Hosts or groups, comma-separated (Ansible patterns)."),
]


@inventory_app.command("check")
def inventory_check(inventory: InventoryOpt = DEFAULT_INVENTORY) -> None:
    """Validate an inventory: one line per problem (file: key: what is wrong), exit 2 if any."""
    from pdic.inventory import check_inventory

    problems = check_inventory(inventory)
    if problems:
        raise InventoryError(problems)
    typer.echo(f"{inventory}: inventory is valid")


@inventory_app.command("hosts")
def inventory_hosts(inventory: InventoryOpt = DEFAULT_INVENTORY, limit: LimitOpt = None) -> None:
    """List the hosts of an inventory with their address and groups."""
    from pdic.inventory import load_inventory

    inv = load_inventory(inventory)
    for host in inv.select(limit):
        typer.echo(f"{host.name}\t{host.address}\t{','.join(host.groups)}")


@secrets_app.command("ensure")
def secrets_ensure(inventory: InventoryOpt = DEFAULT_INVENTORY) -> None:
    """Create the secrets pdic_secrets declares and the vault file lacks; change none."""
    from pdic.inventory import load_valid_inventory
    from pdic.secrets import ensure_secrets

    result = ensure_secrets(load_valid_inventory(inventory))
    for name in result.created:
        typer.echo(f"{result.path}: created {name}")
    typer.echo(f"{result.path}: {len(result.created)} created, {len(result.kept)} kept")


@db_app.command("status")
def db_status(inventory: InventoryOpt = DEFAULT_INVENTORY) -> None:
    """Role of each database host, replication lag, last backup and last restore drill."""
    import datetime as dt

    from pdic.connect import testinfra_host
    from pdic.db.status import collect, format_status
    from pdic.inventory import load_valid_inventory

    status = collect(load_valid_inventory(inventory), testinfra_host)
    typer.echo(format_status(status, dt.datetime.now(dt.UTC)), nl=False)
    if any(n.error for n in status.nodes) or status.repository_error:
        raise typer.Exit(1)


@db_app.command("restore-drill")
def db_restore_drill(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    stanza: Annotated[str, typer.Option("--stanza", help="pgBackRest stanza.")] = "main",
    target: Annotated[
        str | None,
        typer.Option("--target", help="Point in time to restore (ISO 8601); default: latest."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The result as JSON.")] = False,
) -> None:
    """Restore into a scratch instance on the backup host, compare with the source, record it."""
    from pdic.connect import testinfra_host
    from pdic.db.drill import run_drill
    from pdic.inventory import load_valid_inventory

    inv = load_valid_inventory(inventory)
    say = (lambda _: None) if as_json else (lambda line: typer.echo(f"- {line}"))
    result = run_drill(inv, testinfra_host, stanza=stanza, target=target, say=say)
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2))
    else:
        typer.echo(
            f"drill of {result.stanza} ({result.target}): {len(result.tables)} tables, "
            f"reference: {result.reference}, {result.seconds:.0f} s"
        )
        if result.recovery_stop or result.last_transaction:
            typer.echo(
                f"recovery stopped at {result.recovery_stop or '?'}; last transaction "
                f"{result.last_transaction or '?'}"
            )
        for line in result.differences:
            typer.echo(f"DIFFERENT: {line}")
        typer.echo("drill OK" if result.success else "drill FAILED")
    if not result.success:
        raise typer.Exit(1)


@db_app.command("promote")
def db_promote(
    host: Annotated[str, typer.Argument(help="The replica to promote, e.g. db-2.")],
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the old primary cannot be fenced.")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Finish a promotion that stopped part-way (it says so)."),
    ] = False,
) -> None:
    """Fence the primary, promote the replica, point the applications at it."""
    from pdic.connect import testinfra_host
    from pdic.db.promote import PromoteInterrupted, promote
    from pdic.inventory import load_valid_inventory
    from pdic.journal import journaled

    inv = load_valid_inventory(inventory)
    touched = [h.name for h in inv.select("db")] + _application_hosts(inv)
    with journaled("db promote", inv, touched) as record, _window(inv, touched, record):
        try:
            result = promote(
                inv,
                host,
                testinfra_host,
                force=force,
                resume=resume,
                say=lambda line: typer.echo(f"- {line}"),
            )
        except PromoteInterrupted as stopped:
            for line in str(stopped).splitlines():
                typer.echo(f"pdic: error: {line}", err=True)
            record.outcomes = {host: "interrupted"}
            raise typer.Exit(1) from None
        record.hosts = sorted({result.new_primary, result.old_primary, *result.app_hosts})
        record.outcomes = {
            name: "failed" if name in result.failed_hosts else "changed" for name in record.hosts
        }
        record.outcomes[result.old_primary] = "fenced" if result.fenced else "not fenced"
        record.outcomes[result.new_primary] = "promoted"
        if result.failed_hosts:
            for name, why in sorted(result.failed_hosts.items()):
                typer.echo(f"pdic: error: {name}: {why}", err=True)
            raise typer.Exit(1)


@app_app.command("build")
def app_build(
    out: Annotated[
        str | None,
        typer.Option("--out", "-o", help="Directory of the archives (default: apps/dist)."),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option("--source", help="The reference application (default: apps/refapp)."),
    ] = None,
) -> None:
    """Build the reference applications' archives (eoffice, hcc; versions 1, 2, broken 3)."""
    from pdic.app.build import build_reference
    from pdic.arguments import output_dir
    from pdic.project import project_root

    root = project_root()
    dist = root / "apps" / "dist" if out is None else output_dir("--out", out)
    for built in build_reference(source or root / "apps" / "refapp", dist):
        typer.echo(f"{built.name}\t{built.version}\t{built.sha256}\t{built.path}")


AppNameArg = Annotated[
    str, typer.Argument(help="The application (a pdic_applications name), e.g. eoffice.")
]
SerialOpt = Annotated[
    int,
    typer.Option(
        "--serial", "-s", help="Hosts taken out of nginx and changed at a time (a batch)."
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", help="Seconds each host has to answer /healthz with 200."),
]


def _app_on_hosts(
    inventory: Path, name: str, version: str | None, serial: int, timeout: float
) -> None:
    from pdic.app.transport import run_on_hosts
    from pdic.app.upgrade import inventory_hint
    from pdic.inventory import load_valid_inventory
    from pdic.journal import journaled
    from pdic.project import project_root

    inv = load_valid_inventory(inventory)
    touched = _application_hosts(inv, name)
    with (
        journaled(f"app {'upgrade' if version else 'rollback'}", inv, touched) as record,
        _window(inv, touched, record),
    ):
        app, report = run_on_hosts(
            inv,
            name,
            version,
            serial=serial,
            timeout=timeout,
            project=project_root(),
            say=lambda line: typer.echo(f"- {line}"),
        )
        record.hosts = [h.host for h in report.hosts]
        record.outcomes = {h.host: h.state for h in report.hosts}
        for line in report.lines():
            typer.echo(line)
        hint = inventory_hint(app, report)
        if hint:
            typer.echo(hint)
        if not report.ok:
            raise typer.Exit(130 if report.interrupted else 1)


UPGRADE_HELP = (
    "Rolling upgrade, batch by batch: out of nginx, install, switch, /healthz, back in.\n\n"
    "On each host of the application's group, SERIAL at a time: its server is marked down in "
    "the application's nginx upstream on every proxy (nginx reloaded), VERSION's artifact is "
    "installed beside the other releases and made current, the application restarted, and its "
    "/healthz must answer 200 within TIMEOUT seconds; then it goes back into the upstream.\n\n"
    "The first host that fails is rolled back to the version it ran, the hosts after it are "
    "left untouched, a report per host is printed and the exit code is 1. Bad input is exit "
    "code 2 before any host is reached.\n\n"
    "The inventory is not changed: set the application's version there afterwards (the "
    "command says so), or the next `pdic deploy` puts the inventory's version back."
)
ROLLBACK_HELP = (
    "Each host back to the release it ran before, batch by batch, health-checked.\n\n"
    "Every host of the application's group goes back one step of its release history (kept "
    "on the host by pdic-app-release), SERIAL at a time, out of nginx while it restarts. A "
    "host whose /healthz does not answer 200 within TIMEOUT seconds is left out of nginx and "
    "stops the command (exit code 1); a host with no previous release stops it before any "
    "change."
)


@app_app.command("upgrade", help=UPGRADE_HELP)
def app_upgrade(
    name: AppNameArg,
    version: Annotated[str, typer.Argument(help="One of its artifacts' versions, e.g. 2.")],
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    serial: SerialOpt = 1,
    timeout: TimeoutOpt = 60,
) -> None:
    """Rolling upgrade of an application on its hosts (see UPGRADE_HELP)."""
    _app_on_hosts(inventory, name, version, serial, timeout)


@app_app.command("rollback", help=ROLLBACK_HELP)
def app_rollback(
    name: AppNameArg,
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    serial: SerialOpt = 1,
    timeout: TimeoutOpt = 60,
) -> None:
    """Each host of an application back to its previous release (see ROLLBACK_HELP)."""
    _app_on_hosts(inventory, name, None, serial, timeout)


PATCH_HELP = (
    "Debian updates in waves, host by host, each gated by its health checks.\n\n"
    "Reads every selected host's pending updates (apt-get update, then apt's simulation) and "
    "prints them; --check stops there. Then group by group (database replicas before the "
    "primary, the monitoring host last), SERIAL hosts at a time and never a whole group: "
    "out of its nginx upstreams where it has peers, updates installed, a reboot when "
    "/run/reboot-required exists (--reboot auto) or else the services still mapping deleted "
    "libraries restarted, back over SSH within TIMEOUT seconds, its health checks passing "
    "within TIMEOUT seconds, back into service. A host alone in its group is patched only "
    "with --allow-outage, else listed as skipped.\n\n"
    "The first failure stops the wave (exit code 1): an unhealthy host stays out of service, "
    "the hosts after it are untouched, and the report lists every host. Bad input is exit "
    "code 2 before any host is reached; Ctrl-C is 130, with the report so far."
)


@app.command("patch", help=PATCH_HELP)
def patch_cmd(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    limit: LimitOpt = None,
    serial: Annotated[
        int, typer.Option("--serial", "-s", help="Hosts of a group changed at a time.")
    ] = 1,
    reboot: Annotated[
        str, typer.Option("--reboot", help="auto: when /run/reboot-required exists; never.")
    ] = "auto",
    check: Annotated[
        bool, typer.Option("--check", help="Print the pending updates; change nothing.")
    ] = False,
    allow_outage: Annotated[
        bool,
        typer.Option("--allow-outage", help="Also patch hosts that are alone in their group."),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds a host has to come back, then to be healthy."),
    ] = 600,
) -> None:
    """Patch waves with health gates (see PATCH_HELP)."""
    from pdic.inventory import load_valid_inventory
    from pdic.journal import journaled
    from pdic.patch.plan import plan
    from pdic.patch.transport import SshTransport
    from pdic.patch.wave import Report, check_arguments, patch

    check_arguments(serial, reboot, timeout)
    inv = load_valid_inventory(inventory)
    selected = inv.select(limit)
    touched = plan(inv, selected, allow_outage).order

    def run() -> Report:
        transport = SshTransport(inv)
        try:
            return patch(
                inv,
                selected,
                transport,
                serial=serial,
                reboot=reboot,
                allow_outage=allow_outage,
                timeout=timeout,
                check=check,
                say=lambda line: typer.echo(f"- {line}"),
                shown=lambda lines: typer.echo("\n".join(lines)) if lines else None,
            )
        finally:
            transport.close()

    def show(report: Report) -> None:
        shown = [] if report.pending_shown else report.pending_lines()
        for line in shown + report.lines():
            typer.echo(line)
        if not report.ok:
            raise typer.Exit(130 if report.interrupted else 1)

    if check:  # a check changes nothing: it is not journaled
        show(run())
        return
    with journaled("patch", inv, touched) as record, _window(inv, touched, record):
        report = run()
        record.hosts = [h.host for h in report.hosts]
        record.outcomes = {h.host: h.state for h in report.hosts}
        show(report)


@mail_app.command("dns-records")
def mail_dns_records(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    domain: Annotated[
        str | None, typer.Option("--domain", "-d", help="One mail domain (default: all).")
    ] = None,
) -> None:
    """MX, SPF, DKIM and DMARC of each mail domain in zone-file format, DKIM from the hosts."""
    from pdic.connect import testinfra_host
    from pdic.inventory import load_valid_inventory
    from pdic.mail.records import dns_records

    result = dns_records(load_valid_inventory(inventory), testinfra_host, domain)
    typer.echo(result.text, nl=False)
    for host, why in sorted(result.errors.items()):
        typer.echo(f"pdic: error: {host}: could not read its DKIM keys: {why}", err=True)
    for name in result.missing:
        typer.echo(f"pdic: warning: {name}: no DKIM key on its mail host yet", err=True)
    if result.errors or result.missing:
        raise typer.Exit(1)


@mail_app.command("diff")
def mail_diff(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    limit: LimitOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="The changes as JSON.")] = False,
) -> None:
    """What a deploy would change in each mail host's mailboxes (read from the hosts)."""
    from pdic.connect import testinfra_host
    from pdic.inventory import load_valid_inventory
    from pdic.mail import diff

    diffs = diff.collect(load_valid_inventory(inventory), limit, testinfra_host)
    typer.echo((diff.format_json if as_json else diff.format_text)(diffs), nl=False)
    if any(d.error for d in diffs):
        raise typer.Exit(1)


@mail_app.command("queue")
def mail_queue(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    limit: LimitOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="The queues as JSON.")] = False,
) -> None:
    """Messages in each mail host's Postfix queues and the age of the oldest (postqueue -j)."""
    import time

    from pdic.connect import testinfra_host
    from pdic.inventory import load_valid_inventory
    from pdic.mail import queue

    statuses = queue.collect(load_valid_inventory(inventory), limit, testinfra_host, time.time())
    typer.echo((queue.format_json if as_json else queue.format_table)(statuses), nl=False)
    if any(s.error for s in statuses):
        raise typer.Exit(1)


@mail_app.command("initial-password")
def mail_initial_password(
    address: Annotated[str, typer.Argument(help="A mailbox of the inventory.")],
    inventory: InventoryOpt = DEFAULT_INVENTORY,
) -> None:
    """The mailbox's initial password (derived from the vault's seed), to hand to its user."""
    from pdic.inventory import load_valid_inventory
    from pdic.mail.passwords import inventory_initial_password

    typer.echo(inventory_initial_password(load_valid_inventory(inventory), address))


AdminArg = Annotated[str, typer.Argument(help="An administrator of the inventory (pdic_admins).")]


@admin_app.command("totp")
def admin_totp(name: AdminArg, inventory: InventoryOpt = DEFAULT_INVENTORY) -> None:
    """The administrator's current TOTP code, from the vault's key (when no phone is at hand)."""
    import time

    from pdic.inventory import load_valid_inventory
    from pdic.sshaccess import admin_key
    from pdic.totp import seconds_left, totp

    key = admin_key(load_valid_inventory(inventory), name)
    now = time.time()
    typer.echo(totp(key, now))
    typer.echo(f"valid for {int(seconds_left(now))} more seconds", err=True)


@admin_app.command("enroll")
def admin_enroll(
    name: AdminArg,
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    new_key: Annotated[
        bool,
        typer.Option(
            "--new-key",
            help="Replace the key in the vault first (a lost phone); `pdic deploy --tags "
            "hardening` then takes it to the hosts.",
        ),
    ] = False,
) -> None:
    """The otpauth:// URI of the administrator's TOTP key, for an authenticator application."""
    from pdic.inventory import load_valid_inventory
    from pdic.sshaccess import admin_key, new_admin_key
    from pdic.totp import otpauth_uri

    inv = load_valid_inventory(inventory)
    key = new_admin_key(inv, name) if new_key else admin_key(inv, name)
    issuer = str(inv.vars.get("pdic_centre_name") or "pdic")
    typer.echo(otpauth_uri(f"{name}@{inv.vars.get('pdic_domain', 'pdic')}", key, issuer))
    typer.echo(
        "The URI holds the key itself: show it to its owner only (a QR code: "
        "`qrencode -t ansiutf8 URI`), never in a ticket or a chat."
        + (" The hosts keep the old key until `pdic deploy --tags hardening`." if new_key else ""),
        err=True,
    )


AgencyIdArg = Annotated[str, typer.Argument(help="The agency's id, e.g. so-tu-phap.")]


@agency_app.command("list")
def agency_list(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    tier: Annotated[
        str | None, typer.Option("--tier", help="Only province, district or commune.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")] = "table",
) -> None:
    """Every agency: tier, parent, sites, mail domain, mailboxes and certificates counted."""
    from pdic.agency import index
    from pdic.inventory import load_valid_inventory

    index.check_format(fmt, index.LIST_FORMATS)
    index.check_tier(tier)
    found = index.index(load_valid_inventory(inventory))
    typer.echo(index.format_list(index.select(found, tier), fmt), nl=False)


OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="Only what the inventory says: ask no host.")
]
LiveTimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", help="Seconds each live read may take (a host, Prometheus)."),
]


def _check_timeout(timeout: float) -> None:
    from pdic.errors import AgencyError

    if not 0 < timeout <= 300:
        raise AgencyError(f"--timeout: {timeout:g} must be more than 0 and at most 300 seconds")


def _agency_record(inv: Inventory, agency_id: str, offline: bool, timeout: float) -> dict[str, Any]:
    """``pdic agency show``'s record of the agency, with the hosts' view unless ``offline``."""
    from pdic.agency import index, live

    found = index.index(inv)
    agency = found.get(agency_id)
    if offline:
        return index.describe(found, agency)
    readers = live.readers(inv, timeout)
    return index.describe(found, agency, live=lambda a: live.read(inv, a, readers))


@agency_app.command("show")
def agency_show(
    agency_id: AgencyIdArg,
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    offline: OfflineOpt = False,
    timeout: LiveTimeoutOpt = 10,
) -> None:
    """Everything the inventory gives one agency, and what its hosts say of it (live)."""
    from pdic.agency import index
    from pdic.inventory import load_valid_inventory

    index.check_format(fmt, index.SHOW_FORMATS)
    _check_timeout(timeout)
    record = _agency_record(load_valid_inventory(inventory), agency_id, offline, timeout)
    typer.echo(index.format_show(record, fmt), nl=False)


ENGINE_HELP = "mitogen (default, or PDIC_ENGINE) or ansible (plain)."


@agency_app.command("apply")
def agency_apply(
    agency_id: AgencyIdArg,
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    check: Annotated[
        bool, typer.Option("--check", "-C", help="Change nothing; show what would.")
    ] = False,
    engine: Annotated[str | None, typer.Option("--engine", help=ENGINE_HELP)] = None,
    offline: OfflineOpt = False,
    timeout: LiveTimeoutOpt = 10,
) -> None:
    """Converge only the hosts and roles the agency touches, then show it live.

    site.yml runs with the --limit and --tags pdic.agency.converge computes from the
    inventory (its sites: the portal hosts, their certificates, the probes; its mail: the mail
    hosts; its organisation certificates: the hosts that hold them); then the agency's show:
    its site answering with a verified certificate, its mailboxes, the DKIM key and the DNS
    records to publish, its probes and alerts. Exit 1 if the converge fails.
    """
    from pdic.agency import converge, index
    from pdic.deploy import deploy
    from pdic.inventory import load_valid_inventory
    from pdic.journal import journaled

    _check_timeout(timeout)
    inv = load_valid_inventory(inventory)
    agency = index.index(inv).get(agency_id)
    plan = converge.plan(inv, agency)
    for line in plan.lines():
        typer.echo(line)
    if plan.hosts:
        if check:
            result = deploy(inv, check=True, limit=plan.limit, tags=plan.tag_list, engine=engine)
            _deploy_report(result, check)
            return
        touched = list(plan.hosts)
        with journaled("agency apply", inv, touched) as record, _window(inv, touched, record):
            result = deploy(inv, limit=plan.limit, tags=plan.tag_list, engine=engine)
            record.outcomes = _outcomes(result)
            _deploy_report(result, check)
    elif check:
        return
    record_ = _agency_record(inv, agency_id, offline, timeout)
    typer.echo(index.format_show(record_, "text"), nl=False)


def _outcomes(result: DeployResult) -> dict[str, str]:
    return {
        h.name: "unreachable"
        if h.unreachable
        else ("failed" if h.failures else ("changed" if h.changed else "ok"))
        for h in result.hosts
    }


RETIRE_HELP = (
    "Take an agency out of the inventory and the hosts; shown first, done only with --yes.\n\n"
    "Its site is removed (nginx stops serving it, its probe and targets go) and its "
    "certificates revoked by the centre's CA; its mailboxes are archived on their mail host "
    "(moved under the archive directory, never deleted; their logins end); the inventory is "
    "edited keeping its comments and order. Without --merge-into its domains and aliases go "
    "too; with --merge-into OTHER each of its addresses becomes an alias of OTHER (to OTHER's "
    "mailbox of the same name, else its first) and its domains and aliases pass to OTHER.\n\n"
    "With --yes: the inventory is written, the certificates revoked, then the hosts concerned "
    "converge; a step that fails stops the rest and prints the commands that finish it (exit "
    "code 1). Bad input (an unknown agency, a merge into itself or an unknown agency, an "
    "agency others name as parent) is one line each, exit code 2, nothing written."
)


@agency_app.command("retire", help=RETIRE_HELP)
def agency_retire(
    agency_id: AgencyIdArg,
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    merge_into: Annotated[
        str | None,
        typer.Option("--merge-into", help="The agency that takes its addresses and domains."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do it (without: only show).")] = False,
    diff: Annotated[bool, typer.Option("--diff", "-D", help="Show the files' diff.")] = False,
    engine: Annotated[str | None, typer.Option("--engine", help=ENGINE_HELP)] = None,
) -> None:
    """Retire an agency, or merge it into another (see RETIRE_HELP)."""
    from pdic.agency import retire
    from pdic.connect import testinfra_host
    from pdic.deploy import deploy
    from pdic.inventory import load_valid_inventory
    from pdic.journal import journaled
    from pdic.pki.revoke import revoke

    plan = retire.plan(inventory, agency_id, merge_into)
    for line in plan.lines():
        typer.echo(line)
    if diff:
        typer.echo(plan.diff(), nl=False)
    if not yes:
        typer.echo("nothing done: run again with --yes to do it")
        return
    inv = load_valid_inventory(inventory)
    touched = list(dict.fromkeys([*plan.converge.hosts, *_ca_hosts(inv, plan)]))

    def converged(new: Inventory, converge: Any) -> DeployResult:
        result = deploy(new, limit=converge.limit, tags=converge.tag_list, engine=engine)
        _print_recap(
            "agency retire",
            [(h.name, h.ok, h.changed, h.failures, h.unreachable) for h in result.hosts],
        )
        return result

    with journaled("agency retire", inv, touched) as record, _window(inv, touched, record):
        try:
            outcome = retire.execute(
                plan,
                revoke=lambda new, target, reason: revoke(new, target, reason, testinfra_host),
                converge=converged,
                say=lambda line: typer.echo(f"- {line}"),
            )
        except retire.RetireIncomplete as stopped:
            for line in stopped.lines:
                typer.echo(f"pdic: error: {line}", err=True)
            record.outcomes = {h: "interrupted" for h in touched}
            raise typer.Exit(130 if stopped.interrupted else 1) from None
        record.outcomes = _outcomes(outcome.converged) if outcome.converged else {}
        for target in outcome.revoked:
            record.outcomes.setdefault(target.partition(":")[0], "changed")
    typer.echo(f"{agency_id}: retired" + (f" into {merge_into}" if merge_into else ""))


def _ca_hosts(inv: Inventory, plan: Any) -> list[str]:
    return list(inv.groups.get("pki", ())[:1]) if plan.revocations else []


@agency_app.command("add")
def agency_add(
    file: Annotated[
        str, typer.Argument(help="YAML describing the agency (see README: pdic agency).")
    ],
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the diff of each file; write nothing.")
    ] = False,
) -> None:
    """Write a new agency into the inventory (agency, site, mail), validated before writing."""
    from pdic.agency import add
    from pdic.arguments import input_file

    result = add.plan(inventory, input_file("FILE", file))
    if dry_run:
        typer.echo(result.diff(), nl=False)
    else:
        for path in add.apply(result):
            typer.echo(f"{path}: written")
    for note in result.notes:
        typer.echo(note)


@app.command("audit")
def audit_cmd(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    limit: LimitOpt = None,
    controls: Annotated[
        str | None,
        typer.Option("--controls", "-c", help="Control ids or prefixes, comma-separated."),
    ] = None,
    formats: Annotated[
        str, typer.Option("--format", "-f", help="Any of html,json,junit,prom.")
    ] = "html,json,junit,prom",
    out: Annotated[str, typer.Option("--out", "-o", help="Report directory.")] = "reports",
    waivers: Annotated[
        str | None,
        typer.Option("--waivers", "-w", help="Waiver file (default: INVENTORY/waivers.yml)."),
    ] = None,
    fail_on: Annotated[
        str,
        typer.Option("--fail-on", help="Exit 1 when a control of this severity or above fails."),
    ] = "high",
    lynis: Annotated[
        bool,
        typer.Option("--lynis", help="Also run Lynis on each host (a minute or more per host)."),
    ] = False,
) -> None:
    """Check the hosts against the control catalogue; reports for auditors, exit 1 on failure."""
    from pdic.arguments import choices, input_file, output_dir, words
    from pdic.compliance import report
    from pdic.compliance.catalogue import SEVERITIES, ComplianceError
    from pdic.compliance.runner import FORMATS, audit, write_reports
    from pdic.inventory import load_valid_inventory
    from pdic.project import project_root

    wanted_formats = choices("--format", formats, FORMATS)
    wanted_controls = None if controls is None else words("--controls", controls)
    out_dir = output_dir("--out", out)
    waivers_file = None if waivers is None else input_file("--waivers", waivers)
    if fail_on not in SEVERITIES:
        raise ComplianceError(f"--fail-on: {fail_on!r} is not one of {', '.join(SEVERITIES)}")
    default_waivers = inventory / "waivers.yml"
    run = audit(
        load_valid_inventory(inventory),
        catalogue_dir=project_root() / "compliance",
        limit=limit,
        controls=wanted_controls,
        waivers_file=waivers_file or (default_waivers if default_waivers.is_file() else None),
        lynis=lynis,
    )
    paths = write_reports(run, out_dir, wanted_formats, str(inventory))
    for host, value in report.host_scores(run.results).items():
        mine = [r for r in run.results if r.host == host]
        tally = " ".join(f"{k}={v}" for k, v in report.counts(mine).items())
        typer.echo(f"{host} score={_pct(value)} {tally}")
    for found in run.lynis.values():
        index = found.hardening_index
        tally = (
            f"lynis hardening_index={index} warnings={found.warnings} "
            f"suggestions={found.suggestions}"
            if index is not None
            else f"lynis: {found.note}"
        )
        typer.echo(f"{found.host} {tally}")
        for point in found.remaining:
            typer.echo(f"  {point.finding.test} {point.finding.kind}: {point.why.en}")
    typer.echo(f"centre score={_pct(report.score(run.results))}")
    for path in paths:
        typer.echo(f"report: {path}")
    if report.failed_above(run.results, fail_on):
        raise typer.Exit(1)


@cert_app.command("list")
def cert_list(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    limit: LimitOpt = None,
    expiring: Annotated[
        str | None,
        typer.Option("--expiring", "-e", help="Only those expiring within this (30d, 12h, 2w)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")] = "table",
    agency: Annotated[
        str | None,
        typer.Option(
            "--agency", "-a", help="Only the certificates this agency owns (sites, organisation)."
        ),
    ] = None,
) -> None:
    """Every certificate in the centre, read from the hosts; exit 1 if a host could not be read."""
    import datetime as dt

    from pdic.connect import testinfra_host
    from pdic.errors import CertError
    from pdic.inventory import load_valid_inventory
    from pdic.pki import register

    if fmt not in register.FORMATTERS:
        raise CertError(f"--format: {fmt!r} is not one of {', '.join(register.FORMATTERS)}")
    within = register.parse_duration(expiring) if expiring is not None else None
    inv = load_valid_inventory(inventory)
    if agency is not None:
        from pdic.agency.index import index

        index(inv).get(agency)  # an unknown agency is bad input
        holders = register.agency_hosts(inv, agency)
        if limit is None:
            limit = ",".join(holders) if holders else None
        if not holders:
            typer.echo(f"pdic: warning: {agency}: the inventory gives it no certificate", err=True)
            typer.echo(register.FORMATTERS[fmt]([]), nl=False)
            return
    now = dt.datetime.now(dt.UTC)
    result = register.collect(inv, limit, testinfra_host, now)
    entries = list(result.entries)
    if agency is not None:
        entries = register.of_agency(entries, agency)
    if within is not None:
        entries = register.expiring(entries, within, now)
    typer.echo(register.FORMATTERS[fmt](entries), nl=False)
    for where, why in sorted(result.unreadable.items()):
        typer.echo(f"pdic: warning: {where}: {why}", err=True)
    for host, why in sorted(result.errors.items()):
        typer.echo(f"pdic: error: {host}: could not read its certificates: {why}", err=True)
    if result.errors:
        raise typer.Exit(1)


@cert_app.command("revoke")
def cert_revoke(
    target: Annotated[
        str, typer.Argument(help="HOST:NAME, e.g. portal-1:host.", show_default=False)
    ],
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            "-r",
            help="keyCompromise, superseded, cessationOfOperation, affiliationChanged, ...",
            show_default=False,
        ),
    ],
    inventory: InventoryOpt = DEFAULT_INVENTORY,
) -> None:
    """Revoke a certificate through the CA; the CRL is published at once."""
    from pdic.connect import testinfra_host
    from pdic.inventory import load_valid_inventory
    from pdic.journal import journaled
    from pdic.pki.revoke import RevokeIncomplete, revoke

    inv = load_valid_inventory(inventory)
    with journaled("cert revoke", inv, [target.partition(":")[0]]) as record:
        try:
            done = revoke(inv, target, reason, testinfra_host)
        except RevokeIncomplete as half:
            for line in str(half).splitlines():
                typer.echo(f"pdic: error: {line}", err=True)
            record.outcomes = {target.partition(":")[0]: half.outcome}
            raise typer.Exit(1) from None
        record.hosts = sorted({done.host, done.ca_host})
        record.outcomes = {done.ca_host: "ok" if done.already else "changed"}
        record.outcomes[done.host] = "already revoked" if done.already else "revoked"
    if done.already:
        typer.echo(f"{done.host}:{done.name}: serial {done.serial} was already revoked")
        return
    typer.echo(
        f"{done.host}:{done.name}: serial {done.serial} revoked ({done.reason}) by the CA on "
        f"{done.ca_host}; the new CRL is published. The next `pdic deploy` issues {done.host} "
        "a new certificate."
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


@app.command("status")
def status_cmd(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus", help="Prometheus URL (default: the first monitoring host, port 9090)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The centre on one screen from Prometheus: services, alerts, certificates, backups."""
    from pdic.inventory import load_inventory
    from pdic.monitoring.status import (
        centre_status,
        default_url,
        prometheus_url,
        render_rich,
        render_text,
    )

    url = None if prometheus is None else prometheus_url(prometheus)
    inv = load_inventory(inventory)
    status = centre_status(inv, url or default_url(inv))
    windows, why = _open_windows(inv)
    if as_json:
        data = status.as_dict()
        data["maintenance_windows"] = None if why else [w.__dict__ for w in windows]
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if sys.stdout.isatty():
        from rich.console import Console

        Console().print(render_rich(status))
    else:
        for line in render_text(status):
            typer.echo(line)
    typer.echo("")
    typer.echo(f"maintenance windows: {why or len(windows) or 'none'}")
    for window in windows:
        typer.echo(f"  {window.line()}")


def _open_windows(inventory: Inventory) -> tuple[list[Any], str]:
    """The open maintenance windows, or why they are not known (Alertmanager unreachable)."""
    from pdic import maint

    try:
        return maint.windows(maint.http_request(maint.alertmanager_url(inventory))), ""
    except maint.MaintError as exc:
        return [], f"unknown ({exc})"


@maint_app.command("start")
def maint_start(
    limit: Annotated[
        str, typer.Option("--limit", "-l", help="The hosts or groups the work touches.")
    ],
    length: Annotated[str, typer.Option("--for", help="How long: 30m, 2h, 1d (at most 7d).")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="What is done, for on-call.")],
    inventory: InventoryOpt = DEFAULT_INVENTORY,
) -> None:
    """Open a window for planned work by hand: the hosts' notifications wait until it ends."""
    from pdic import maint
    from pdic.inventory import load_valid_inventory
    from pdic.journal import login

    inv = load_valid_inventory(inventory)
    duration = maint.parse_for(length)
    if not reason.strip() or any(ord(c) < 32 for c in reason):
        raise maint.MaintError("--reason: must say what is done, on one line")
    hosts = [h.name for h in inv.select(limit)]
    request = maint.http_request(maint.alertmanager_url(inv))
    window_id = maint.start(request, hosts, duration, reason.strip(), f"{login()} (pdic)")
    typer.echo(f"window {window_id}: {', '.join(hosts)} for {length}: {reason.strip()}")


@maint_app.command("list")
def maint_list(inventory: InventoryOpt = DEFAULT_INVENTORY) -> None:
    """The open (and coming) windows."""
    from pdic import maint
    from pdic.inventory import load_valid_inventory

    inv = load_valid_inventory(inventory)
    found = maint.windows(maint.http_request(maint.alertmanager_url(inv)))
    for window in found:
        typer.echo(window.line())
    if not found:
        typer.echo("no open window")


@maint_app.command("end")
def maint_end(
    window_id: Annotated[str, typer.Argument(help="The window's id (pdic maint list).")],
    inventory: InventoryOpt = DEFAULT_INVENTORY,
) -> None:
    """Close a window now: the hosts' notifications go out again."""
    from pdic import maint
    from pdic.inventory import load_valid_inventory

    inv = load_valid_inventory(inventory)
    maint.end(maint.http_request(maint.alertmanager_url(inv)), window_id)
    typer.echo(f"window {window_id} closed")


@app.command("journal")
def journal_cmd(
    since: Annotated[
        str | None, typer.Option("--since", help="Only the last 7d, 12h, 30m, 2w, ...")
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Only the commands that touched this host.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The records as JSON.")] = False,
) -> None:
    """The change journal of this control machine: who changed which hosts, when, how."""
    from pdic import journal

    window = journal.parse_since(since) if since is not None else None
    if host is not None:
        journal.check_host(host)
    records = journal.select(journal.read(), since=window, host=host)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in records], indent=2, ensure_ascii=False))
        return
    for record in records:
        typer.echo(record.summary())
    if not records:
        typer.echo(f"{journal.journal_path()}: no record" + (" matches" if since or host else ""))


@monitoring_app.command("targets")
def monitoring_targets(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    out: Annotated[
        str, typer.Option("--out", "-o", help="Directory for the file_sd JSON files.")
    ] = "monitoring/targets",
) -> None:
    """Write Prometheus file_sd target lists (one JSON file per job) from the inventory."""
    from pdic.arguments import output_dir
    from pdic.inventory import load_valid_inventory
    from pdic.monitoring.targets import write_file_sd

    for path in write_file_sd(load_valid_inventory(inventory), output_dir("--out", out)):
        typer.echo(str(path))


@monitoring_app.command("dashboards")
def monitoring_dashboards(
    out: Annotated[
        str, typer.Option("--out", "-o", help="The monitoring/ directory to write under.")
    ] = "monitoring",
) -> None:
    """Write the Grafana dashboards and Prometheus console pages (centre, service, host)."""
    from pdic.arguments import output_dir
    from pdic.monitoring.dashboards import write_dashboards

    for path in write_dashboards(output_dir("--out", out)):
        typer.echo(str(path))


def _lab(inventory: Path) -> Lab:
    """The lab of the inventory, read but not checked: a lab must come down, and its status
    show, while its inventory is being edited."""
    from pdic.inventory import load_inventory
    from pdic.lab import Lab, LabPaths

    return Lab(load_inventory(inventory), LabPaths.default())


@lab_app.command("up")
def lab_up(inventory: InventoryOpt = DEFAULT_INVENTORY, limit: LimitOpt = None) -> None:
    """Build the base image once, then boot every lab host (a no-op for hosts already up)."""
    lab = _lab(inventory)
    started = lab.up(limit, log=lambda m: typer.echo(f"pdic lab: {m}", err=True))
    _print_status(lab.status(limit))
    typer.echo(f"{len(started)} host(s) started" if started else "lab already up: nothing to do")


@lab_app.command("down")
def lab_down(inventory: InventoryOpt = DEFAULT_INVENTORY, limit: LimitOpt = None) -> None:
    """Power hosts off cleanly (SIGTERM); their state stays for the next `lab up`."""
    stopped = _lab(inventory).down(limit)
    typer.echo(f"{len(stopped)} host(s) stopped" if stopped else "nothing was running")


@lab_app.command("destroy")
def lab_destroy(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Stop the lab and delete its state (hosts' disks, keys); the base image cache stays."""
    lab = _lab(inventory)
    if not yes:
        typer.confirm(f"delete every lab host's state under {lab.paths.state}?", abort=True)
    lab.destroy()
    typer.echo(f"lab destroyed: {lab.paths.state} removed")


@lab_app.command("status")
def lab_status(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    limit: LimitOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each host, its address and what `systemctl is-system-running` says inside it."""
    states = _lab(inventory).status(limit)
    if as_json:
        typer.echo(json.dumps([s.as_dict() for s in states], indent=2))
    else:
        _print_status(states)


@lab_app.command("ssh", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def lab_ssh(
    ctx: typer.Context,
    host: Annotated[str, typer.Argument(help="Lab host name, e.g. portal-1.")],
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Login name.")] = None,
) -> None:
    """Log into a lab host (the operations account once bootstrapped, else root)."""
    argv = _lab(inventory).ssh_argv(host, user, list(ctx.args))
    os.execvp(argv[0], argv)


@app.command("bootstrap")
def bootstrap_cmd(inventory: InventoryOpt = DEFAULT_INVENTORY, limit: LimitOpt = None) -> None:
    """Make bare hosts ready for Ansible with pyinfra (ops account, python3, hostname, time)."""
    from pdic.bootstrap import bootstrap
    from pdic.inventory import load_valid_inventory
    from pdic.journal import journaled

    inv = load_valid_inventory(inventory)
    touched = [h.name for h in inv.select(limit)]
    with journaled("bootstrap", inv, touched) as record, _window(inv, touched, record):
        results = bootstrap(inv, limit, log=lambda m: typer.echo(m, err=True))
        record.outcomes = {
            r.name: "unreachable"
            if r.unreachable
            else ("failed" if r.failed else ("changed" if r.changed else "ok"))
            for r in results
        }
        _bootstrap_report(results)


def _bootstrap_report(results: list[HostResult]) -> None:
    for r in results:
        for op in r.changed_ops:
            typer.echo(f"[{r.name}] changed: {op}")
        for op in r.failed_ops:
            typer.echo(f"[{r.name}] FAILED: {op}", err=True)
    _print_recap(
        "bootstrap",
        [(r.name, r.ok, r.changed, r.failed, int(r.unreachable)) for r in results],
    )
    if not all(r.success for r in results):
        raise typer.Exit(1)


@app.command("deploy")
def deploy_cmd(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    limit: LimitOpt = None,
    check: Annotated[
        bool, typer.Option("--check", "-C", help="Change nothing; show what would.")
    ] = False,
    diff: Annotated[bool, typer.Option("--diff", "-D", help="Show file differences.")] = False,
    tags: Annotated[
        str | None, typer.Option("--tags", "-t", help="Only tasks with these tags.")
    ] = None,
    skip_tags: Annotated[str | None, typer.Option("--skip-tags", help="Skip these tags.")] = None,
    engine: Annotated[
        str | None,
        typer.Option("--engine", help="mitogen (default, or PDIC_ENGINE) or ansible (plain)."),
    ] = None,
    playbook: Annotated[
        str, typer.Option("--playbook", help="Playbook to run.")
    ] = "playbooks/site.yml",
) -> None:
    """Converge the centre with Ansible (playbooks/site.yml); a per-host summary at the end."""
    from pdic.deploy import deploy
    from pdic.inventory import load_valid_inventory
    from pdic.journal import journaled

    inv = load_valid_inventory(inventory)

    def run() -> DeployResult:
        return deploy(
            inv,
            check=check,
            diff=diff,
            limit=limit,
            tags=tags,
            skip_tags=skip_tags,
            engine=engine,
            playbook=playbook,
        )

    if check:  # a check changes nothing: it is not journaled
        _deploy_report(run(), check)
        return
    touched = [h.name for h in inv.select(limit)]
    with journaled("deploy", inv, touched) as record, _window(inv, touched, record):
        result = run()
        record.outcomes = {
            h.name: "unreachable"
            if h.unreachable
            else ("failed" if h.failures else ("changed" if h.changed else "ok"))
            for h in result.hosts
        }
        _deploy_report(result, check)


def _deploy_report(result: DeployResult, check: bool) -> None:
    for line in result.pending.lines() if check and result.pending else []:
        typer.echo(f"pdic deploy (check): {line}")
    _print_recap(
        "deploy (check)" if check else "deploy",
        [(h.name, h.ok, h.changed, h.failures, h.unreachable) for h in result.hosts],
    )
    if not result.success:
        raise typer.Exit(1)


@app.command("drift")
def drift_cmd(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    limit: LimitOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    metrics_file: Annotated[
        str | None,
        typer.Option(
            "--metrics-file", help="Write the metrics to this file, not to the monitoring host."
        ),
    ] = None,
    no_publish: Annotated[bool, typer.Option("--no-publish", help="Write no metrics.")] = False,
) -> None:
    """Configuration drift: what a deploy would change on each host (check mode with diff).

    Exit 0: no drift; 1: drift, a host not checked or the metrics not published; 2: bad input.
    """
    from pdic.connect import testinfra_host
    from pdic.drift import (
        DriftError,
        PublishFailed,
        find_drift,
        format_report,
        monitoring_host,
        publish,
        report_json,
        write_local,
    )
    from pdic.drift import metrics_file as metrics_path
    from pdic.inventory import load_valid_inventory

    if metrics_file is not None and no_publish:
        raise DriftError("--metrics-file and --no-publish: give one of them")
    path = None if metrics_file is None else metrics_path(metrics_file)
    inv = load_valid_inventory(inventory)
    inv.select(limit)  # an unknown host or group is an error before anything runs
    target = None if no_publish or path is not None else monitoring_host(inv)
    report = find_drift(inv, limit)
    if as_json:
        typer.echo(json.dumps(report_json(report), indent=2, ensure_ascii=False))
    else:
        typer.echo(format_report(report), nl=False)
    try:
        if path is not None:
            write_local(report, inv, path)
        elif target is not None:
            publish(report, inv, target, testinfra_host)
    except PublishFailed as exc:
        typer.echo(f"pdic: error: {exc}", err=True)
        raise typer.Exit(1) from None
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _window(
    inventory: Inventory, hosts: list[str], record: Record
) -> AbstractContextManager[str | None]:
    """The maintenance window of a changing command: its hosts silenced while it runs."""
    from pdic.maint import window

    return window(inventory, hosts, f"pdic {record.command} (journal record {record.id})")


def _application_hosts(inventory: Inventory, name: str | None = None) -> list[str]:
    """The hosts of the groups of the inventory's applications (of ``name`` only, if given)."""
    groups = {
        str(app.get("group"))
        for app in inventory.vars.get("pdic_applications") or []
        if isinstance(app, dict) and (name is None or app.get("name") == name)
    }
    return [h.name for h in inventory.hosts.values() if groups & set(h.groups)]


def _print_recap(title: str, rows: list[tuple[str, int, int, int, int]]) -> None:
    """A table on a terminal; one `host ok=N changed=N failed=N unreachable=N` line otherwise."""
    if not sys.stdout.isatty():
        typer.echo(f"pdic {title} recap:")
        for name, ok, changed, failed, unreachable in rows:
            typer.echo(
                f"{name} ok={ok} changed={changed} failed={failed} unreachable={unreachable}"
            )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("host", "ok", "changed", "failed", "unreachable", title=f"pdic {title}")
    for name, ok, changed, failed, unreachable in rows:
        style = "red" if failed or unreachable else ("yellow" if changed else "green")
        table.add_row(name, str(ok), str(changed), str(failed), str(unreachable), style=style)
    Console().print(table)


def _print_status(states: list[HostState]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("host", "address", "state", "system", box=None, pad_edge=False)
    for s in states:
        state = "[green]running[/]" if s.running else "[red]stopped[/]"
        table.add_row(s.name, s.address, state, s.system)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code.

    Usage errors, pdic's domain errors (exit code 2), hosts that cannot be reached and any other
    error (exit code 1) end as one ``pdic: error: ...`` line each: see :mod:`pdic.exits`.
    """
    from pdic import exits, journal

    journal.command_line = list(sys.argv[1:] if argv is None else argv)
    return exits.run(typer.main.get_command(app), argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
