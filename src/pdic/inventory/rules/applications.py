"""Applications: the services' applications, their artifacts, settings, ports and links to
databases and secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pdic.inventory.context import Context, Field, ListSpec
from pdic.inventory.loader import KeyPath, Layer
from pdic.inventory.model import GROUP_PORTS, RESERVED_PORTS
from pdic.inventory.values import (
    ON_CALENDAR,
    VARIABLE,
    application_name,
    artifact_source,
    dns_name,
    env_name,
    port,
    sha256,
    text,
    version_as_number,
)

APPLICATIONS = ListSpec(
    "pdic_applications",
    {
        "name": Field(required=True, rule=application_name, unique="application"),
        "group": Field(required=True),
        "hostname": Field(required=True, rule=dns_name, unique="application hostname", fold=True),
        "port": Field(required=True, rule=port),
        "version": Field(required=True),
        "artifacts": Field(required=True),
        "title": Field(rule=text),
        "database": Field(),
        "db_role": Field(),
        "environment": Field(),
        "secrets": Field(),
        "backup": Field(),
    },
)


def check(ctx: Context) -> None:
    key = APPLICATIONS.key
    items, layer = ctx.check_list(APPLICATIONS)
    if layer is None:
        return
    sites = site_names(ctx)
    site_hostnames = ctx.known("portal_sites", "hostname")
    ports: dict[tuple[Any, Any], int] = {}
    for i, item in items:
        hostname = item.get("hostname")
        if isinstance(hostname, str) and hostname.lower() in site_hostnames:
            ctx.at(
                layer,
                (key, i, "hostname"),
                f"{hostname!r} is also a portal site's hostname "
                f"(portal_sites[{site_hostnames[hostname.lower()]}])",
            )
        name = item.get("name")
        if isinstance(name, str) and name in sites:
            ctx.at(
                layer,
                (key, i, "name"),
                f"{name!r} is also a portal site's name (portal_sites[{sites[name]}]): "
                "nginx sites, logs and certificates are named after both",
            )
        group = item.get("group")
        problem = group_problem(ctx, group)
        if problem:
            ctx.at(layer, (key, i, "group"), problem)
        number = item.get("port")
        if port(number) is not None or not isinstance(number, int):
            pass  # reported by validate
        elif number in RESERVED_PORTS:
            ctx.at(
                layer,
                (key, i, "port"),
                f"{number} is the port of {RESERVED_PORTS[number]} on the application hosts",
            )
        elif number < 1024:
            ctx.at(
                layer,
                (key, i, "port"),
                f"{number} is below 1024: the service has no privilege to listen there",
            )
        elif taken := group_port(ctx, group, number):
            ctx.at(layer, (key, i, "port"), taken)
        elif group not in (None, ""):
            if (group, number) in ports:
                ctx.at(
                    layer,
                    (key, i, "port"),
                    f"port {number} is already taken on group {group!r} by "
                    f"{key}[{ports[group, number]}]",
                )
            else:
                ports[group, number] = i
        check_artifacts(ctx, layer, (key, i), item)
        check_app_settings(ctx, layer, (key, i), item)


def group_problem(ctx: Context, group: Any) -> str | None:
    """What is wrong with an application's group: unknown, or sharing portal's hosts."""
    if group in (None, ""):
        return None
    if group not in ctx.inventory.groups:
        return f"unknown group {group!r} (not in {ctx.source.hosts_file})"
    if group == "portal":
        return (
            "the portal hosts' nginx serves portal_sites (playbooks/web.yml): run "
            "applications on a group of their own"
        )
    portal = set(ctx.inventory.groups.get("portal", ()))
    shared = [h for h in ctx.inventory.groups[group] if h in portal]
    if shared:
        return (
            f"{', '.join(shared)} also in group portal, whose nginx serves "
            "portal_sites (playbooks/web.yml): run applications on other hosts"
        )
    return None


def group_port(ctx: Context, group: Any, number: int) -> str | None:
    """Which service of another group's role listens on ``number`` on a host that ``group``
    shares with that group (:data:`pdic.inventory.model.GROUP_PORTS`), if any."""
    if not isinstance(group, str) or group not in ctx.inventory.groups:
        return None
    for other, ports in GROUP_PORTS.items():
        shared = [
            h for h in ctx.inventory.groups[group] if h in ctx.inventory.groups.get(other, ())
        ]
        if number in ports and shared:
            return f"{number} is the port of {ports[number]} on {', '.join(shared)} (group {other})"
    return None


def site_names(ctx: Context) -> dict[str, int]:
    found = ctx.var("portal_sites")
    value = found[0] if found else None
    names: dict[str, int] = {}
    for i, site in enumerate(value if isinstance(value, list) else []):
        if isinstance(site, Mapping) and isinstance(site.get("name"), str):
            names.setdefault(site["name"], i)
    return names


def check_app_settings(ctx: Context, layer: Layer, at: KeyPath, app: Mapping[str, Any]) -> None:
    """environment, secrets and backup of one application (their shapes)."""
    for name in ("environment", "secrets"):
        value = app.get(name)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            ctx.at(layer, (*at, name), "must be a mapping of environment variable names")
            continue
        for variable, setting in value.items():
            problem = env_name(variable)
            if problem:
                ctx.at(layer, (*at, name, variable), problem)
            elif name == "environment" and (
                isinstance(setting, bool | Mapping | list) or setting is None
            ):
                ctx.at(
                    layer,
                    (*at, name, variable),
                    f"{setting!r} is not a text or a number",
                )
            elif name == "secrets" and (
                not isinstance(setting, str) or not VARIABLE.fullmatch(setting)
            ):
                ctx.at(
                    layer,
                    (*at, name, variable),
                    f"{setting!r} is not the name of a secret (a variable of pdic_secrets)",
                )
    backup = app.get("backup")
    if backup is None:
        return
    if not isinstance(backup, Mapping):
        ctx.at(layer, (*at, "backup"), "must be a mapping (keep, on_calendar)")
        return
    for name in backup:
        if name not in ("keep", "on_calendar"):
            ctx.at(
                layer,
                (*at, "backup", name),
                f"unknown key {name!r} (expected: keep, on_calendar)",
            )
    keep = backup.get("keep", 7)
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        ctx.at(
            layer,
            (*at, "backup", "keep"),
            f"{keep!r} is not a whole number >= 1 (archives kept; 0 would keep none)",
        )
    calendar = backup.get("on_calendar", "daily")
    if not isinstance(calendar, str) or not ON_CALENDAR.fullmatch(calendar):
        ctx.at(
            layer,
            (*at, "backup", "on_calendar"),
            f"{calendar!r} is not a systemd calendar event (such as daily or *-*-* 02:30)",
        )


def check_artifacts(ctx: Context, layer: Layer, at: KeyPath, app: Mapping[str, Any]) -> None:
    artifacts = app.get("artifacts")
    if artifacts in (None, ""):
        return
    if not isinstance(artifacts, list) or not artifacts:
        ctx.at(layer, (*at, "artifacts"), "must be a non-empty list of artifacts")
        return
    key = f"{at[0]}[{at[1]}].artifacts"
    fields = {"version": True, "source": True, "sha256": True}
    versions: dict[str, int] = {}
    for j, artifact in enumerate(artifacts):
        where = (*at, "artifacts", j)
        if not isinstance(artifact, Mapping):
            ctx.at(layer, where, "must be a mapping")
            continue
        for name in artifact:
            if name not in fields:
                expected = ", ".join(sorted(fields))
                ctx.at(layer, (*where, name), f"unknown key {name!r} (expected: {expected})")
        for name in fields:
            if name not in artifact:
                ctx.at(layer, where, f"missing required key {name!r}")
            elif artifact[name] in (None, ""):
                ctx.at(layer, (*where, name), "must not be empty")
        for name, rule in (("source", artifact_source), ("sha256", sha256)):
            if artifact.get(name) not in (None, ""):
                problem = rule(artifact[name])
                if problem:
                    ctx.at(layer, (*where, name), problem)
        version = artifact.get("version")
        if isinstance(version, float):
            ctx.at(layer, (*where, "version"), version_as_number(version))
        elif version not in (None, ""):
            version = str(version)
            if version in versions:
                ctx.at(
                    layer,
                    (*where, "version"),
                    f"duplicate version {version!r} (first at {key}[{versions[version]}])",
                )
            else:
                versions[version] = j
    wanted = app.get("version")
    if isinstance(wanted, float):
        ctx.at(layer, (*at, "version"), version_as_number(wanted))
    elif wanted not in (None, "") and versions and str(wanted) not in versions:
        ctx.at(
            layer,
            (*at, "version"),
            f"version {wanted!r} has no artifact (artifacts: {', '.join(versions)})",
        )


def check_links(ctx: Context) -> None:
    """Each application's database role, database and secrets are declared, and its group
    may connect as that role (pg_hba.conf admits the role's groups only)."""
    found = ctx.var("pdic_applications")
    if found is None or not isinstance(found[0], list):
        return
    value, layer = found
    key = "pdic_applications"
    roles = {
        r["name"]: r for r in ctx.raw_items("postgresql_roles") if isinstance(r.get("name"), str)
    }
    databases = {
        d["name"] for d in ctx.raw_items("postgresql_databases") if isinstance(d.get("name"), str)
    }
    secrets_found = ctx.var("pdic_secrets")
    secrets = {s.get("name") for s in ctx.raw_items("pdic_secrets")}
    for i, app in enumerate(value):
        if not isinstance(app, Mapping):
            continue
        database, role = app.get("database"), app.get("db_role")
        if (database is None) != (role is None):
            missing = "db_role" if role is None else "database"
            ctx.at(
                layer,
                (key, i),
                f"database and db_role go together: {missing} is missing",
            )
        if isinstance(role, str) and role not in roles:
            ctx.at(
                layer,
                (key, i, "db_role"),
                f"unknown db_role {role!r} (not in postgresql_roles)",
            )
        elif isinstance(role, str):
            granted = roles[role].get("databases") or []
            groups = roles[role].get("groups") or []
            if database is not None and database not in databases:
                ctx.at(
                    layer,
                    (key, i, "database"),
                    f"unknown database {database!r} (not in postgresql_databases)",
                )
            elif database is not None and database not in granted:
                ctx.at(
                    layer,
                    (key, i, "database"),
                    f"role {role!r} has no access to database {database!r} (not in its databases)",
                )
            group = app.get("group")
            if isinstance(group, str) and isinstance(groups, list) and group not in groups:
                ctx.at(
                    layer,
                    (key, i, "db_role"),
                    f"hosts of group {group!r} may not connect as {role!r} (not in its groups)",
                )
        app_secrets = app.get("secrets")
        if not isinstance(app_secrets, Mapping):
            continue
        for variable, secret in app_secrets.items():
            if isinstance(secret, str) and VARIABLE.fullmatch(secret) and secret not in secrets:
                where = "no pdic_secrets" if secrets_found is None else "not in pdic_secrets"
                ctx.at(
                    layer,
                    (key, i, "secrets", variable),
                    f"unknown secret {secret!r} ({where}: `pdic secrets ensure` would not "
                    "create it)",
                )
