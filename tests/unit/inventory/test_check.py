"""check_inventory: the reference inventories are clean, the corpus of broken ones fails exactly."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from pdic.cli import main
from pdic.inventory import check_inventory, load_inventory
from pdic.inventory.model import GROUP_PORTS

from .conftest import CORPUS, REPO, WriteInventory

CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("_"))


@pytest.mark.parametrize("env", ["lab", "thaibinh"])
def test_reference_inventories_are_valid(env: str) -> None:
    assert check_inventory(REPO / "inventory" / env) == []


def test_corpus_base_is_valid() -> None:
    assert check_inventory(CORPUS / "_valid") == []


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 80


@pytest.mark.parametrize("case", CASES)
def test_corpus(case: str) -> None:
    expected = (CORPUS / case / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert expected, f"{case}: expected.txt is empty"
    assert check_inventory(CORPUS / case) == expected


def test_cli_reports_each_problem_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    case = CORPUS / "26-duplicate-agency-id"
    assert main(["inventory", "check", "-i", str(case)]) == 2
    err = capsys.readouterr().err.splitlines()
    expected = (case / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert len(expected) == 2
    assert err == [f"pdic: error: {line}" for line in expected]


def test_cli_accepts_a_valid_inventory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inventory", "check", "-i", str(CORPUS / "_valid")]) == 0
    assert capsys.readouterr().out.endswith("inventory is valid\n")


def test_thaibinh_has_the_province_figures() -> None:
    inv = load_inventory(REPO / "inventory" / "thaibinh")
    agencies = inv.vars["pdic_agencies"]
    assert len(inv.vars["portal_sites"]) == 27
    assert len(agencies) == 788
    assert sum(a["tier"] != "commune" for a in agencies) == 101
    assert sum(a["tier"] == "commune" for a in agencies) == 687
    assert len(inv.vars["mail_mailboxes"]) == 6000
    assert {len(hosts) for hosts in inv.groups.values()} >= {1, 2, 3}
    assert [h.get("postgresql_role") for h in inv.select("db")] == ["primary", "replica"]
    names = {d["name"] for d in inv.vars["postgresql_databases"]}
    assert names >= {"vanban", "tthc", "nguoicocong", "tuphap", "datdai", "cbccvc"}
    assert names >= {"portal", "eoffice", "hcc"}


def test_thaibinh_check_is_fast() -> None:
    start = time.perf_counter()
    check_inventory(REPO / "inventory" / "thaibinh")
    # About 0.4 s here; the bound only catches an accidental quadratic rule.
    assert time.perf_counter() - start < 5


def _generator() -> ModuleType:
    path = REPO / "tools" / "gen_thaibinh.py"
    spec = importlib.util.spec_from_file_location("gen_thaibinh", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_thaibinh", module)
    spec.loader.exec_module(module)
    return module


def test_committed_thaibinh_data_is_what_the_generator_writes() -> None:
    for path, content in _generator().render().items():
        rel = Path(path).relative_to(REPO)
        assert path.read_text(encoding="utf-8") == content, f"{rel}: run tools/gen_thaibinh.py"


# Rules the corpus does not show one by one.

CENTRE = """
    pdic_env: t
    pdic_domain: example.gov.vn
    pdic_network: 192.0.2.0/24
    pdic_ops_user: ops
    pdic_timezone: UTC
    """
HOSTS = "\n".join(
    f"{group}:\n  hosts:\n    {group}-1:\n      ansible_host: 192.0.2.{n}"
    for n, group in enumerate(
        ["portal", "eoffice", "hcc", "mail", "db", "backup", "pki", "monitoring"], start=10
    )
)


def problems(write_inventory: WriteInventory, extra: str, hosts: str = HOSTS) -> list[str]:
    root = write_inventory(
        {"hosts.yml": hosts, "group_vars/all/centre.yml": CENTRE, "group_vars/all/x.yml": extra}
    )
    return [line.removeprefix("group_vars/all/x.yml: ") for line in check_inventory(root)]


def test_minimal_inventory_is_valid(write_inventory: WriteInventory) -> None:
    assert problems(write_inventory, "{}") == []


def test_extra_groups(write_inventory: WriteInventory) -> None:
    hosts = HOSTS + "\nlogs:\n  hosts:\n    logs-1:\n      ansible_host: 192.0.2.30\n"
    assert problems(write_inventory, "pdic_extra_groups: [logs]", hosts) == []
    assert problems(write_inventory, "pdic_extra_groups: [Logs]", hosts) == [
        "pdic_extra_groups[0]: 'Logs' is not a group name (lowercase letters, digits and _)",
        "hosts.yml: logs: unknown group 'logs' (known: backup, db, eoffice, hcc, mail, "
        "monitoring, pki, portal; list others in pdic_extra_groups)",
    ]


def test_ungrouped_host(write_inventory: WriteInventory) -> None:
    root_lines = ["all:", "  hosts:", "    stray:", "      ansible_host: 192.0.2.99", "  children:"]
    root_lines += ["    " + line for line in HOSTS.splitlines()]
    assert problems(write_inventory, "{}", "\n".join(root_lines)) == [
        "hosts.yml: all.hosts.stray: host is in no group"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2G", None),
        ("500M", None),
        ("1T", None),
        ("64K", None),
        ("2g", "'2g' has an unknown unit 'g' (use K, M, G or T, such as 2G)"),
        ("2GiB", "'2GiB' has an unknown unit 'GiB' (use K, M, G or T, such as 2G)"),
        ("1.5G", "'1.5G' is not a size (a whole number and a unit K, M, G or T, such as 2G)"),
        ("2 G", "'2 G' is not a size (a whole number and a unit K, M, G or T, such as 2G)"),
        ("0G", "'0G' is not more than zero"),
        (2, "2 has no unit (add K, M, G or T, such as 2G)"),
    ],
)
def test_quota(write_inventory: WriteInventory, value: object, message: str | None) -> None:
    extra = f"""
        mail_domains: [{{name: example.gov.vn, agency: a}}]
        pdic_agencies: [{{id: a, name: A, tier: province}}]
        mail_mailboxes:
          - {{address: x@example.gov.vn, name: X, agency: a, quota: {value!r}}}
        """
    extra = extra.replace("'", '"') if isinstance(value, str) else extra
    expected = [] if message is None else [f"mail_mailboxes[0].quota: {message}"]
    assert problems(write_inventory, extra) == expected


def test_agency_parent_loop_and_tier_order(write_inventory: WriteInventory) -> None:
    extra = """
        pdic_agencies:
          - {id: a, name: A, tier: province, parent: b}
          - {id: b, name: B, tier: province, parent: a}
          - {id: c, name: C, tier: commune, parent: c}
          - {id: d, name: D, tier: district, parent: e}
          - {id: e, name: E, tier: commune, parent: d}
        """
    assert problems(write_inventory, extra) == [
        "pdic_agencies[0].parent: parent chain loops: a -> b -> a",
        "pdic_agencies[2].parent: an agency cannot be its own parent",
        "pdic_agencies[3].parent: parent 'e' is a commune; a district cannot belong to it",
        "pdic_agencies[3].parent: parent chain loops: d -> e -> d",
    ]


def test_aliases_external_targets_and_mailbox_clash(write_inventory: WriteInventory) -> None:
    extra = """
        pdic_agencies: [{id: a, name: A, tier: province, domain: other.gov.vn}]
        mail_domains: [{name: example.gov.vn, agency: a}]
        mail_mailboxes: [{address: x@example.gov.vn, name: X, agency: a, quota: 1G}]
        mail_aliases:
          - {address: list@example.gov.vn, to: [x@example.gov.vn, someone@partner.example.org]}
          - {address: x@example.gov.vn, to: [list@example.gov.vn]}
          - {address: self@example.gov.vn, to: [self@example.gov.vn, Not An Address]}
          - {address: none@example.gov.vn, to: []}
        """
    assert problems(write_inventory, extra) == [
        "pdic_agencies[0].domain: mail domain 'other.gov.vn' is not in mail_domains",
        # x@ is a mailbox and an alias at once: the alias wins in Postfix, so it loops.
        "mail_aliases[0].to: alias loop: list@example.gov.vn -> x@example.gov.vn "
        "-> list@example.gov.vn",
        "mail_aliases[1].address: 'x@example.gov.vn' is also a mailbox (mail_mailboxes[0])",
        "mail_aliases[2].to: alias loop: self@example.gov.vn -> self@example.gov.vn",
        "mail_aliases[2].to[1]: 'Not An Address' is not a valid mail address "
        "(lowercase local@domain)",
        "mail_aliases[3].to: must be a non-empty list of addresses",
    ]


def test_postgresql_reserved_names_and_bad_shapes(write_inventory: WriteInventory) -> None:
    extra = """
        postgresql_roles:
          - {name: pg_admin, groups: [db]}
          - {name: app, groups: db}
          - just-a-name
        postgresql_databases:
          - {name: template1, owner: app}
          - {name: Bad-Name, owner: app}
        portal_sites: {name: x}
        """
    assert problems(write_inventory, extra) == [
        "postgresql_roles[0].name: 'pg_admin' is reserved by PostgreSQL",
        "postgresql_roles[1].groups: must be a list of inventory groups",
        "postgresql_roles[2]: must be a mapping",
        "postgresql_databases[0].name: 'template1' is reserved by PostgreSQL",
        "postgresql_databases[1].name: 'Bad-Name' is not an SQL identifier "
        "(lowercase letters, digits, _; at most 63)",
        "portal_sites: must be a list of mappings",
    ]


def test_postgresql_role_databases_and_groups(write_inventory: WriteInventory) -> None:
    extra = """
        postgresql_roles:
          - {name: docs_owner, groups: []}
          - {name: docs_app, databases: [docs, nosuch]}
          - {name: idle, groups: []}
          - {name: reader, groups: [eoffice], databases: docs}
        postgresql_databases:
          - {name: docs, owner: docs_owner}
        """
    assert problems(write_inventory, extra) == [
        "postgresql_roles[1]: role 'docs_app' owns no database and no host group may connect "
        "as it: list the groups whose hosts use it",
        "postgresql_roles[1].databases[1]: unknown database 'nosuch' (not in postgresql_databases)",
        "postgresql_roles[2].groups: role 'idle' owns no database and no host group may connect "
        "as it: list the groups whose hosts use it",
        "postgresql_roles[3].databases: must be a list of databases",
    ]


def test_backup_retention_and_secrets(write_inventory: WriteInventory) -> None:
    extra = """
        pgbackrest_retention_full: 0
        pgbackrest_retention_diff: "{{ 3 + 4 }}"
        postgresql_allow_restart: "yes"
        pdic_secrets:
          - {name: vault_a, length: 32}
          - {name: vault_a}
          - {name: Bad-Name, length: 8}
        """
    assert problems(write_inventory, extra) == [
        "pgbackrest_retention_full: 0 is not a whole number >= 1 (backups kept; 0 would keep none)",
        "postgresql_allow_restart: must be true or false",
        "pdic_secrets[1].name: duplicate secret 'vault_a' (first at pdic_secrets[0])",
        "pdic_secrets[2].name: 'Bad-Name' is not a variable name (lowercase letters, digits and _)",
        "pdic_secrets[2].length: 8 is not a whole number 16..256",
    ]


APP = """
    pdic_secrets:
      - {name: vault_app_key}
    postgresql_roles:
      - {name: docs_owner, groups: []}
      - {name: docs_app, groups: [eoffice, hcc], databases: [docs]}
    postgresql_databases:
      - {name: docs, owner: docs_owner}
    pdic_applications:
      - name: docs
        group: eoffice
        hostname: docs.example.gov.vn
        port: 8001
        version: "2"
        database: docs
        db_role: docs_app
        environment: {TZ: Asia/Ho_Chi_Minh, WORKERS: 4}
        secrets: {DOCS_KEY: vault_app_key}
        backup: {keep: 3, on_calendar: "Mon..Fri *-*-* 02:30"}
        artifacts:
          - {version: "1", source: apps/dist/docs-1.tar.gz, sha256: SHA}
          - {version: "2", source: "https://apps.example.gov.vn/docs-2.tar.gz", sha256: SHA}
    """.replace("SHA", "a" * 64)


def test_application_with_database_secrets_and_backup_is_valid(
    write_inventory: WriteInventory,
) -> None:
    assert problems(write_inventory, APP) == []


def test_application_settings_that_are_not_mappings(write_inventory: WriteInventory) -> None:
    extra = (
        APP.replace("environment: {TZ: Asia/Ho_Chi_Minh, WORKERS: 4}", "environment: [TZ]")
        .replace("secrets: {DOCS_KEY: vault_app_key}", "secrets: {DOCS_KEY: [x]}")
        .replace('backup: {keep: 3, on_calendar: "Mon..Fri *-*-* 02:30"}', "backup: weekly")
        .replace("port: 8001", "port: 9469")
    )
    assert problems(write_inventory, extra) == [
        "pdic_applications[0].port: 9469 is the port of the pdic exporter on the application hosts",
        "pdic_applications[0].environment: must be a mapping of environment variable names",
        "pdic_applications[0].secrets.DOCS_KEY: ['x'] is not the name of a secret (a variable "
        "of pdic_secrets)",
        "pdic_applications[0].backup: must be a mapping (keep, on_calendar)",
    ]


def test_application_ports_below_1024_and_hosts_shared_with_the_portal(
    write_inventory: WriteInventory,
) -> None:
    hosts = HOSTS.replace("eoffice:\n  hosts:\n", "eoffice:\n  hosts:\n    portal-1:\n")
    assert problems(write_inventory, APP.replace("port: 8001", "port: 81"), hosts) == [
        "pdic_applications[0].group: portal-1 also in group portal, whose nginx serves "
        "portal_sites (playbooks/web.yml): run applications on other hosts",
        "pdic_applications[0].port: 81 is below 1024: the service has no privilege to listen there",
    ]


@pytest.mark.parametrize(
    ("host", "port", "service"),
    [
        ("mail-1", 9900, "Dovecot's metrics"),
        ("mail-1", 11332, "rspamd's milter"),
        ("db-1", 5432, "PostgreSQL"),
        ("db-1", 8432, "pgBackRest's TLS server"),
    ],
)
def test_application_ports_of_another_groups_services_on_a_shared_host(
    write_inventory: WriteInventory, host: str, port: int, service: str
) -> None:
    hosts = HOSTS.replace("eoffice:\n  hosts:\n", f"eoffice:\n  hosts:\n    {host}:\n")
    app = APP.replace("port: 8001", f"port: {port}")
    group = host.split("-")[0]
    assert problems(write_inventory, app, hosts) == [
        f"pdic_applications[0].port: {port} is the port of {service} on {host} (group {group})",
    ]
    # The same port on hosts without that group is the application's to take.
    assert problems(write_inventory, app) == []


def test_mail_ports_kept_from_applications_are_the_mail_roles() -> None:
    """GROUP_PORTS["mail"] names the ports roles/mail sets (the rest are rspamd's defaults)."""
    mail = REPO / "roles" / "mail"
    defaults = yaml.safe_load((mail / "defaults" / "main.yml").read_text(encoding="utf-8"))
    role_vars = (mail / "vars" / "main.yml").read_text(encoding="utf-8")
    ports = GROUP_PORTS["mail"]
    assert ports[defaults["mail_exporter_port"]] == "the Postfix exporter"
    assert ports[defaults["mail_dovecot_stats_port"]] == "Dovecot's metrics"
    assert "inet:127.0.0.1:11332" in role_vars and ports[11332] == "rspamd's milter"
    assert "inet:127.0.0.1:8891" in role_vars and ports[8891] == "OpenDKIM"
    assert "_mail_quota_status: inet:127.0.0.1:12340" in role_vars
    assert ports[12340] == "Dovecot's quota-status service"


@pytest.mark.parametrize(
    ("group", "role", "variable"),
    [
        ("db", "postgresql", "postgresql_port"),
        ("db", "postgres_exporter", "postgres_exporter_port"),
        ("db", "pgbackrest", "pgbackrest_tls_port"),
        ("backup", "pgbackrest", "pgbackrest_tls_port"),
        ("monitoring", "prometheus", "prometheus_port"),
        ("monitoring", "alertmanager", "alertmanager_port"),
        ("monitoring", "blackbox_exporter", "blackbox_exporter_port"),
        ("monitoring", "grafana", "grafana_port"),
    ],
)
def test_group_ports_kept_from_applications_are_the_roles_defaults(
    group: str, role: str, variable: str
) -> None:
    defaults = REPO / "roles" / role / "defaults" / "main.yml"
    port = yaml.safe_load(defaults.read_text(encoding="utf-8"))[variable]
    assert port in GROUP_PORTS[group]


def test_two_applications_on_different_groups_may_share_a_port(
    write_inventory: WriteInventory,
) -> None:
    second = """
      - name: forms
        group: hcc
        hostname: forms.example.gov.vn
        port: 8001
        version: "1"
        artifacts:
          - {version: "1", source: apps/dist/forms-1.tar.gz, sha256: SHA}
    """.replace("SHA", "b" * 64)
    assert problems(write_inventory, APP.rstrip() + "\n" + second.strip("\n")) == []


def test_unreadable_inventory_is_one_problem(tmp_path: Path) -> None:
    assert check_inventory(tmp_path) == [
        "hosts.yml: (file): missing (an inventory directory needs hosts.yml)"
    ]


def test_network_with_host_bits_and_timezone(write_inventory: WriteInventory) -> None:
    root = write_inventory(
        {
            "hosts.yml": HOSTS,
            "group_vars/all.yml": CENTRE.replace("192.0.2.0/24", "192.0.2.1/24").replace(
                "UTC", "Asia/Thai_Binh"
            ),
        }
    )
    assert check_inventory(root) == [
        "group_vars/all.yml: pdic_network: '192.0.2.1/24' has host bits set "
        "(the network is 192.0.2.0/24)",
        "group_vars/all.yml: pdic_timezone: 'Asia/Thai_Binh' is not a known time zone "
        "(such as Asia/Ho_Chi_Minh)",
    ]
