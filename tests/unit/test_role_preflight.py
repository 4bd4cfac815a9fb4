"""Each role checks its input in one assertion: good input passes, and every bad input is named.

Runs a role's preflight tasks with ansible-playbook on the controller (connection local), as
tests/unit/test_pki_preflight.py does for the PKI roles and test_firewall_preflight.py for the
firewall; the nginx role's are in web/test_nginx_render.py (the render tests of app/ and mail/
run these roles' preflight on the lab inventory too). A role reports every problem it
finds at once, one message each, in one line joined by '; ': so one run with every independent
input wrong shows every message. A check that reads what an earlier one vouches for (a name, a
declared owner) runs once that one passes; those have runs of their own.
"""

from __future__ import annotations

import getpass
import grp
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_pki_preflight import _run

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "inventory" / "lab"
DEBIAN_12 = {
    "distribution": "Debian",
    "distribution_major_version": "12",
    "distribution_version": "12.5",
}


def _failure(run: subprocess.CompletedProcess[str]) -> str:
    """The message of the play's one failed task; the play must have failed on it."""
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    fatal = [line for line in run.stdout.splitlines() if line.startswith("fatal: [")]
    assert len(fatal) == 1, output
    result = json.loads(fatal[0].split(" => ", 1)[1])
    assert "assertion" in result, output  # the role's assertion, not an error on the way
    message = str(result["msg"])
    assert "\n" not in message
    return message


def _assert_says_all(message: str, *expected: str) -> None:
    missing = [text for text in expected if text not in message]
    assert not missing, f"{missing} not in: {message}"


def _passes(run: subprocess.CompletedProcess[str]) -> None:
    assert run.returncode == 0, run.stdout + run.stderr


def _vars(**variables: Any) -> dict[str, Any]:
    return {"ansible_python_interpreter": sys.executable, **variables}


# common


COMMON = _vars(
    ansible_facts=DEBIAN_12,
    pdic_ops_user="pdicops",
    pdic_ops_authorized_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA pdicops"],
)


def test_common_accepts_good_input(tmp_path: Path) -> None:
    _passes(_run("common", COMMON, tmp_path))


def test_common_names_every_bad_input(tmp_path: Path) -> None:
    bad = {
        "ansible_facts": {
            **DEBIAN_12,
            "distribution_major_version": "11",
            "distribution_version": "11.9",
        },
        "common_ops_user": "Ops User",
        "common_ops_authorized_keys": ["not a key"],
        "common_timezone": "Asia/Ho Chi Minh",
        "common_locales": ["vi_VN"],
        "common_default_locale": "fr_FR.UTF-8",
        "common_ntp_servers": [{"pool": True}],
    }
    message = _failure(_run("common", {**COMMON, **bad}, tmp_path))
    _assert_says_all(
        message,
        "role common supports Debian 12 (bookworm) only; localhost runs Debian 11.9; ",
        "common_ops_user (default: the inventory's pdic_ops_user) must be a Unix user name,"
        " got 'Ops User'",
        "common_ops_authorized_keys (default: the inventory's pdic_ops_authorized_keys and the"
        " files in pdic_ops_authorized_key_files) must hold at least one OpenSSH public key",
        "common_timezone must be a name under /usr/share/zoneinfo such as Asia/Ho_Chi_Minh,"
        " got 'Asia/Ho Chi Minh'",
        "common_locales must be UTF-8 locale names (xx_YY.UTF-8) and common_default_locale"
        " ('fr_FR.UTF-8') must be C.UTF-8 or one of common_locales",
        "common_ntp_servers must list at least one time source, each with a host",
    )


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        pytest.param({"common_ops_user": ""}, "common_ops_user", id="no-ops-user"),
        pytest.param({"common_ntp_servers": []}, "common_ntp_servers must list", id="no-ntp"),
    ],
)
def test_common_names_one_bad_input_alone(
    tmp_path: Path, bad: dict[str, Any], expected: str
) -> None:
    message = _failure(_run("common", {**COMMON, **bad}, tmp_path))
    assert message.startswith(expected)
    assert "; " not in message


# alertmanager


def test_alertmanager_accepts_its_defaults(tmp_path: Path) -> None:
    _passes(_run("alertmanager", _vars(), tmp_path))


def test_alertmanager_names_every_bad_receiver_and_timing(tmp_path: Path) -> None:
    receivers = [
        {"name": "oncall", "email_to": ["oncall@example.org"]},
        {"name": "Web Team", "email_to": ["web@example.org"]},
        {"name": "db", "email_to": "db@example.org"},
        {"name": "mail", "email_to": ["postmaster"]},
        {"name": "pager", "webhook_urls": ["ftp://pager.example.org/"]},
        {"name": "nowhere"},
        {"name": "second", "webhook_urls": ["http://backup-1:9469/alerts"]},
    ]
    variables = _vars(
        alertmanager_receivers=receivers,
        alertmanager_group_wait="30 s",
        alertmanager_repeat_interval="4hours",
    )
    message = _failure(_run("alertmanager", variables, tmp_path))
    _assert_says_all(
        message,
        "alertmanager_receivers: 'Web Team' needs a name (a slug) and email_to (mail addresses)"
        " or webhook_urls (http(s) URLs); got ['web@example.org'], nothing",
        "alertmanager_receivers: 'pager' needs a name (a slug)",
        "alertmanager_receivers: 'nowhere' needs a name (a slug)",
        "alertmanager_receivers: 'db' needs a name (a slug)",
        "alertmanager_receivers: 'mail' needs a name (a slug)",
        "alertmanager_group_wait must be a duration such as 30s, 5m or 4h, got '30 s'",
        "alertmanager_repeat_interval must be a duration such as 30s, 5m or 4h, got '4hours'",
    )
    assert "'oncall'" not in message and "'second'" not in message
    assert "alertmanager_group_interval" not in message


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"alertmanager_default_receiver": "nobody"}, id="unknown-default"),
        pytest.param(
            {"alertmanager_teams": [{"name": "web", "receiver": "nobody"}]}, id="unknown-receiver"
        ),
        pytest.param({"alertmanager_teams": [{"name": "web"}]}, id="no-receiver"),
        pytest.param(
            {"alertmanager_teams": [{"name": "sales", "receiver": "oncall"}]}, id="unknown-team"
        ),
        pytest.param({"alertmanager_watchdog_receiver": "deadman"}, id="unknown-watchdog"),
    ],
)
def test_alertmanager_routes_go_to_known_receivers(tmp_path: Path, bad: dict[str, Any]) -> None:
    message = _failure(_run("alertmanager", _vars(**bad), tmp_path))
    assert message.startswith("alertmanager_default_receiver ('")
    _assert_says_all(message, "must name one of alertmanager_receivers (oncall)")


# hardening


HARDENING = _vars(ansible_facts=DEBIAN_12, hardening_log_forwarding=False)


def test_hardening_accepts_good_input(tmp_path: Path) -> None:
    _passes(_run("hardening", HARDENING, tmp_path))


def test_hardening_names_every_bad_input(tmp_path: Path) -> None:
    bad = {
        "ansible_facts": {**DEBIAN_12, "distribution": "Ubuntu"},
        "hardening_password_max_days": 0,
        "hardening_key_only_accounts": ["Backup"],
        "hardening_sudo_logfile": "/var/log/sudo log",
        "hardening_log_forwarding": True,
        "hardening_log_server": "nosuch",
        "hardening_sysctl_network": {"net.ipv4.ip_forward": "off"},
        "hardening_umask": "u=rwx",
        "hardening_login_banner": "Debian \\s \\r\n",
        "hardening_package_tools": ["debsums", "Apt Show"],
        "hardening_file_permissions": [
            {"path": "/etc/shadow", "mode": "0640", "owner": "root", "group": "shadow"},
            {"path": "/etc/gshadow", "mode": "640", "owner": "root", "group": "shadow"},
        ],
    }
    message = _failure(_run("hardening", {**HARDENING, **bad}, tmp_path))
    _assert_says_all(
        message,
        "role hardening supports Debian 12 (bookworm) only; localhost runs Ubuntu 12.5",
        "hardening_password_max_days more than hardening_password_min_days (0 / ",
        "hardening_key_only_accounts must list Unix user names, got ['Backup']",
        "hardening_sudo_logfile must be an absolute path without spaces or quotes,"
        " got '/var/log/sudo log'",
        "hardening_log_server must name a host of the inventory when hardening_log_forwarding is on"
        " (got 'nosuch'; set hardening_log_forwarding: false to send logs nowhere)",
        "hardening_sysctl_network and hardening_sysctl_kernel values must be whole numbers",
        "hardening_umask must be an octal umask such as '027' or empty (got 'u=rwx') and"
        " hardening_password_hash_rounds 0 or 1000..999999999 (got 65536)",
        "hardening_login_banner must not contain a backslash: getty reads \\-escapes in /etc/issue",
        "hardening_package_tools must list Debian package names, got ['debsums', 'Apt Show']",
        "hardening_file_permissions entries need path (absolute), mode ('0640'), owner and group;"
        " got {'path': '/etc/gshadow', 'mode': '640', 'owner': 'root', 'group': 'shadow'}",
    )
    assert "/etc/shadow'" not in message


# pdic_exporter


def test_pdic_exporter_accepts_its_defaults(tmp_path: Path) -> None:
    _passes(_run("pdic_exporter", _vars(), tmp_path))


def test_pdic_exporter_names_every_bad_input(tmp_path: Path) -> None:
    variables = _vars(
        pdic_exporter_port=0,
        pdic_exporter_certificate_paths=[
            "/etc/pdic/pki/*.pem",
            "pki/host.pem",
            {"path": "/etc/pdic/org-signing/a*.crt", "agency": "so-tu-phap"},
            {"path": "org/b.crt", "agency": "so-noi-vu"},
        ],
        pdic_exporter_supplementary_groups=["ssl cert"],
    )
    message = _failure(_run("pdic_exporter", variables, tmp_path))
    _assert_says_all(
        message,
        "pdic_exporter_port must be a TCP port and pdic_exporter_listen_address an address;"
        " got '0.0.0.0' and '0'",
        "pdic_exporter_certificate_paths and pdic_exporter_crl_paths must be absolute paths or"
        " globs; got pki/host.pem, org/b.crt",
        "pdic_exporter_supplementary_groups must list group names, got ['ssl cert']",
    )


# pgbackrest: localhost is the repository host; db-1 is never contacted


def _backup_inventory(repo: bool = True) -> dict[str, Any]:
    local = {"localhost": {"ansible_connection": "local"}}
    backup = {"hosts": local} if repo else {"hosts": {}}
    return {"all": {"children": {"backup": backup, "db": {"hosts": {"db-1": {}}}}}}


PGBACKREST = _vars(pgbackrest_domain="lab.example", pgbackrest_cipher_pass="c" * 32)


def test_pgbackrest_accepts_good_input(tmp_path: Path) -> None:
    _passes(_run("pgbackrest", PGBACKREST, tmp_path, _backup_inventory()))


def test_pgbackrest_names_every_bad_input(tmp_path: Path) -> None:
    variables = {
        **PGBACKREST,
        "pgbackrest_domain": "",
        "pgbackrest_retention_diff": 0,
        "pgbackrest_cipher_pass": "short",
    }
    message = _failure(_run("pgbackrest", variables, tmp_path, _backup_inventory()))
    _assert_says_all(
        message,
        "pgbackrest needs exactly one host in group backup (found localhost), not a database host,"
        " at least one in db, and pgbackrest_domain (default pdic_domain)",
        "pgbackrest_retention_full (2) and pgbackrest_retention_diff (0) must be whole numbers"
        " >= 1",
        "pgbackrest_cipher_pass (default vault_pgbackrest_cipher_pass) is not set or shorter"
        " than 32",
    )


def test_pgbackrest_needs_a_repository_host_and_the_key_only_there(tmp_path: Path) -> None:
    variables = {**PGBACKREST, "pgbackrest_cipher_pass": ""}
    message = _failure(_run("pgbackrest", variables, tmp_path, _backup_inventory(repo=False)))
    assert message.startswith("pgbackrest needs exactly one host in group backup (found none)")
    assert "pgbackrest_cipher_pass" not in message


# postgresql: localhost is the primary of group db


def _db_inventory(role: str = "primary") -> dict[str, Any]:
    host = {"ansible_connection": "local", "postgresql_role": role}
    return {"all": {"children": {"db": {"hosts": {"localhost": host}}, "portal": {}}}}


POSTGRESQL = _vars(
    postgresql_domain="lab.example",
    postgresql_memory_mb=1024,
    postgresql_roles=[
        {"name": "replicator", "groups": ["db"]},
        {"name": "portal_owner"},
        {"name": "portal_app", "groups": ["db"], "databases": ["portal"]},
    ],
    postgresql_databases=[{"name": "portal", "owner": "portal_owner"}],
    vault_postgresql_password_replicator="r" * 16,
    vault_postgresql_password_portal_app="p" * 16,
)


def test_postgresql_accepts_good_input(tmp_path: Path) -> None:
    variables = {**POSTGRESQL, "_postgresql_fence_file": str(tmp_path / "no-fence")}
    _passes(_run("postgresql", variables, tmp_path, _db_inventory()))


def test_postgresql_names_every_bad_input(tmp_path: Path) -> None:
    fence = tmp_path / "db-fenced"
    fence.write_text("fenced\n")
    roles = [
        {"name": "replicator", "groups": ["backup"]},
        {"name": "portal_owner"},
        {"name": "portal_app", "groups": ["db"], "databases": ["portal"]},
        {"name": "orphan"},
        {"name": "ghost_app", "groups": ["nosuch"], "databases": ["nosuch"]},
    ]
    variables = {
        **POSTGRESQL,
        "postgresql_roles": roles,
        "vault_postgresql_password_portal_app": "short",
        "vault_postgresql_password_ghost_app": "g" * 16,
        "postgresql_max_connections": 5,
        "_postgresql_fence_file": str(fence),
    }
    message = _failure(_run("postgresql", variables, tmp_path, _db_inventory()))
    _assert_says_all(
        message,
        "postgresql_roles[orphan]: a role that owns no database needs groups (hosts that connect as"
        " it), its groups must be inventory groups and its databases in postgresql_databases"
        " (groups: none; databases: none)",
        "postgresql_roles[ghost_app]: a role that owns no database needs groups",
        "(groups: nosuch; databases: nosuch)",
        "postgresql_replication_user 'replicator' must be in postgresql_roles with groups"
        " including 'db'",
        "vault_postgresql_password_portal_app is not set (or shorter than 16): declare it in"
        " pdic_secrets and run `pdic secrets ensure` (pdic deploy does)",
        "postgresql_allow_restart must be true or false, postgresql_memory_mb >= 256,"
        " postgresql_max_connections >= 10, postgresql_domain (default pdic_domain) set",
        f"localhost was fenced by `pdic db promote` ({fence}) but the inventory still makes it the"
        " primary",
    )
    assert "postgresql_roles[portal_owner]" not in message
    assert "vault_postgresql_password_replicator" not in message


def test_postgresql_names_a_bad_host_role_and_an_undeclared_owner(tmp_path: Path) -> None:
    variables = {
        **POSTGRESQL,
        "postgresql_databases": [{"name": "portal", "owner": "nobody"}],
        "_postgresql_fence_file": str(tmp_path / "no-fence"),
    }
    message = _failure(_run("postgresql", variables, tmp_path, _db_inventory(role="leader")))
    _assert_says_all(
        message,
        "postgresql_role of localhost must be primary or replica ('leader'), and group db exactly"
        " one primary (found: none)",
        "postgresql_databases: owner not in postgresql_roles: nobody",
    )
    # The roles are checked against the databases' owners once those are declared.
    assert "postgresql_roles[" not in message


def test_a_fenced_replica_passes(tmp_path: Path) -> None:
    fence = tmp_path / "db-fenced"
    fence.write_text("fenced\n")
    inventory = _db_inventory()
    inventory["all"]["children"]["db"]["hosts"]["db-2"] = {"postgresql_role": "replica"}
    inventory["all"]["children"]["db"]["hosts"]["localhost"]["postgresql_role"] = "replica"
    inventory["all"]["children"]["db"]["hosts"]["db-2"]["postgresql_role"] = "primary"
    variables = {**POSTGRESQL, "_postgresql_fence_file": str(fence)}
    _passes(_run("postgresql", variables, tmp_path, inventory))


# prometheus: the targets come from the lab inventory (read, never contacted)


PROMETHEUS = _vars(
    prometheus_inventory_dir=str(LAB),
    prometheus_rules_source_dir=str(ROOT / "monitoring" / "prometheus" / "rules"),
)


def test_prometheus_accepts_good_input(tmp_path: Path) -> None:
    _passes(_run("prometheus", PROMETHEUS, tmp_path))


def test_prometheus_names_every_bad_input(tmp_path: Path) -> None:
    variables = {
        **PROMETHEUS,
        "prometheus_evaluation_interval": "1 minute",
        "prometheus_file_sd_jobs": ["node", "nosuch"],
        "prometheus_port": 99999,
    }
    message = _failure(_run("prometheus", variables, tmp_path))
    _assert_says_all(
        message,
        "prometheus_evaluation_interval must be a Prometheus duration such as 15s, 1m or 15d,"
        " got '1 minute'",
        "prometheus_file_sd_jobs: no targets are generated for nosuch (known: ",
        "prometheus_port must be a TCP port (got '99999') and prometheus_rules_source_dir",
    )
    assert "prometheus_scrape_interval" not in message


# ssh_hardening: the connecting account is the one running the tests


def _ssh_vars(**variables: Any) -> dict[str, Any]:
    user = getpass.getuser()
    defaults = {
        "ansible_user": user,
        "ssh_hardening_allow_groups": [grp.getgrgid(os.getgid()).gr_name],
        "ssh_hardening_password_authentication": True,
        "ssh_hardening_permit_root_login": "prohibit-password" if user == "root" else "no",
    }
    return _vars(**{**defaults, **variables})


def test_ssh_hardening_accepts_good_input(tmp_path: Path) -> None:
    _passes(_run("ssh_hardening", _ssh_vars(), tmp_path))


def test_ssh_hardening_names_every_bad_input(tmp_path: Path) -> None:
    variables = _ssh_vars(
        ssh_hardening_log_level="LOUD",
        ssh_hardening_max_sessions=1,
        ssh_hardening_root_login_from=["control.example"],
    )
    message = _failure(_run("ssh_hardening", variables, tmp_path))
    _assert_says_all(
        message,
        "ssh_hardening_permit_root_login must be no, prohibit-password, forced-commands-only or"
        " yes,",
        "ssh_hardening_log_level an sshd LogLevel",
        "ssh_hardening_max_sessions at least 2 (Ansible multiplexes its connection)",
        "ssh_hardening_root_login_from and ssh_hardening_ops_from must list addresses or CIDRs, got"
        " ['control.example'] and []",
    )
    assert "locked out" not in message


def test_ssh_hardening_refuses_to_lock_the_connecting_account_out(tmp_path: Path) -> None:
    variables = _ssh_vars(ansible_user="pdic-no-such-user", ssh_hardening_allow_groups=["nobody"])
    message = _failure(_run("ssh_hardening", variables, tmp_path))
    assert message.startswith(
        "localhost: Ansible connects as pdic-no-such-user, who would be locked out by the new sshd"
        " configuration: the account must exist, be in one of ssh_hardening_allow_groups (nobody)"
    )


ADMIN_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIL7uq0y5Q3uYh3mQq7mbx0gZ8V5rmV1Zs3XbYq2r7tq"
    " an@workstation"
)


def _admin(**entry: Any) -> dict[str, Any]:
    return {
        "name": "annv",
        "authorized_keys": [ADMIN_KEY],
        "totp_secret": "vault_totp_annv",
        **entry,
    }


def test_ssh_hardening_accepts_administrators_and_the_control_network(tmp_path: Path) -> None:
    key_file = tmp_path / "binhtt.pub"
    key_file.write_text(ADMIN_KEY + "\n")
    variables = _ssh_vars(
        ssh_hardening_admins=[
            _admin(full_name="Nguyễn Văn An"),
            _admin(
                name="binhtt",
                authorized_keys=[],
                authorized_key_files=[str(key_file)],
                totp_secret="vault_totp_binhtt",
            ),
        ],
        vault_totp_annv="ab" * 20,
        vault_totp_binhtt="CD" * 32,
        ssh_hardening_ops_user=getpass.getuser(),
        ssh_hardening_ops_from=["10.251.0.1/32"],
    )
    environ = {"SSH_CONNECTION": "10.251.0.1 50000 10.251.0.11 22"}
    _passes(_run("ssh_hardening", variables, tmp_path, environ=environ))


def test_ssh_hardening_names_every_bad_administrator_and_setting(tmp_path: Path) -> None:
    variables = _ssh_vars(
        ssh_hardening_admins=[
            _admin(name="root"),
            _admin(name="pdicops"),
            _admin(name="keyless", authorized_keys=[]),
            _admin(name="badkey", authorized_keys=["ssh-ed25519 not-a-key"]),
            _admin(name="relfile", authorized_keys=[], authorized_key_files=["keys/relfile.pub"]),
            _admin(name="nosecret", totp_secret="vault totp"),
            "not a mapping",
        ],
        ssh_hardening_ops_user="pdicops",
        ssh_hardening_mfa_group="Admins",
        ssh_hardening_mfa_users_file="users.oath",
        ssh_hardening_mfa_window=99,
        ssh_hardening_ops_from=["control.example"],
    )
    message = _failure(_run("ssh_hardening", variables, tmp_path))
    _assert_says_all(
        message,
        "ssh_hardening_ops_from must list addresses or CIDRs, got [] and ['control.example']",
        "ssh_hardening_mfa_group a Unix group name (got 'Admins'), ssh_hardening_mfa_users_file"
        " an absolute path (got 'users.oath') and ssh_hardening_mfa_window a whole number 0..10"
        " (got '99')",
        *(
            f"ssh_hardening_admins[{name}]: needs a name (a Unix user name, not root or pdicops),"
            " at least one key in authorized_keys (OpenSSH public keys) or authorized_key_files"
            for name in (
                "root",
                "pdicops",
                "keyless",
                "badkey",
                "relfile",
                "nosecret",
                "not a mapping",
            )
        ),
    )
    assert "annv" not in message


def test_ssh_hardening_needs_each_administrators_totp_key_and_key_files(tmp_path: Path) -> None:
    variables = _ssh_vars(
        ssh_hardening_admins=[
            _admin(),
            _admin(name="binhtt", totp_secret="vault_totp_binhtt"),
            _admin(name="chaul", totp_secret="vault_totp_chaul"),
            _admin(
                name="dungpv",
                totp_secret="vault_totp_annv",
                authorized_key_files=[str(tmp_path / "missing.pub")],
            ),
        ],
        vault_totp_annv="ab" * 20,
        vault_totp_binhtt="not hexadecimal, and long enough to be a secret",
        vault_totp_chaul="ab" * 15,
    )
    message = _failure(_run("ssh_hardening", variables, tmp_path))
    for name, secret in [
        ("binhtt", "vault_totp_binhtt"),
        ("chaul", "vault_totp_chaul"),
        ("dungpv", "vault_totp_annv"),
    ]:
        assert (
            f"ssh_hardening_admins[{name}]: {secret} is not set or not a TOTP key pam_oath reads"
            in message
        )
    assert "ssh_hardening_admins[annv]" not in message
    assert "not hexadecimal, and long" not in message and "abab" not in message  # no secret shown
    assert str(tmp_path / "missing.pub") in message


def test_ssh_hardening_refuses_an_administrator_as_the_connecting_account(tmp_path: Path) -> None:
    # The account running the tests is a member of the administrators' group.
    user, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
    variables = _ssh_vars(
        ssh_hardening_admins=[_admin()], vault_totp_annv="ab" * 20, ssh_hardening_mfa_group=group
    )
    message = _failure(_run("ssh_hardening", variables, tmp_path))
    assert message.startswith(
        f"localhost: Ansible connects as {user}, an administrator ({group}), who would need a"
        " TOTP code with the new sshd configuration"
    )
    # Not with the second factor off: then administrators log in with their key alone.
    _passes(_run("ssh_hardening", {**variables, "ssh_hardening_mfa": False}, tmp_path))


def test_ssh_hardening_refuses_to_shut_the_operations_account_out_of_its_address(
    tmp_path: Path,
) -> None:
    user = getpass.getuser()
    variables = _ssh_vars(ssh_hardening_ops_user=user, ssh_hardening_ops_from=["10.251.0.1/32"])
    environ = {"SSH_CONNECTION": "10.251.0.31 50000 10.251.0.11 22"}
    message = _failure(_run("ssh_hardening", variables, tmp_path, environ=environ))
    assert message.startswith(
        f"localhost: Ansible connects as {user} from 10.251.0.31, which ssh_hardening_ops_from does"
        " not list (10.251.0.1/32): the new sshd configuration would refuse this play"
    )
    # Another account (root's bootstrap, say) is not concerned, nor a local connection.
    _passes(
        _run(
            "ssh_hardening",
            {**variables, "ssh_hardening_ops_user": "pdicops"},
            tmp_path,
            environ=environ,
        )
    )
    _passes(_run("ssh_hardening", variables, tmp_path))


# The roles already checked in one assertion: one bad input each.


@pytest.mark.parametrize(
    ("role", "bad", "expected"),
    [
        pytest.param(
            "blackbox_exporter",
            {"blackbox_exporter_timeout": "5 seconds"},
            "blackbox_exporter_port must be a TCP port, blackbox_exporter_timeout a duration",
            id="blackbox_exporter",
        ),
        pytest.param(
            "node_exporter",
            {"node_exporter_extra_args": ["--collector.processes --web.disable"]},
            "node_exporter_extra_args flags such as --collector.processes (no spaces)",
            id="node_exporter",
        ),
        pytest.param(
            "grafana",
            {
                "grafana_apt_repository": "http://apt.grafana.com",
                "grafana_dashboards_source_dir": str(ROOT / "monitoring/grafana/dashboards"),
            },
            "grafana_apt_repository and grafana_apt_key_url must be https:// URLs",
            id="grafana",
        ),
    ],
)
def test_one_assertion_roles_name_the_bad_input(
    tmp_path: Path, role: str, bad: dict[str, Any], expected: str
) -> None:
    message = _failure(_run(role, _vars(**bad), tmp_path))
    assert expected in message


# mail: localhost is the mail host; the certificate's presence is read from its files


def _mail_inventory() -> dict[str, Any]:
    return {
        "all": {"children": {"mail": {"hosts": {"localhost": {"ansible_connection": "local"}}}}}
    }


def _mail_vars(tmp_path: Path, **variables: Any) -> dict[str, Any]:
    (tmp_path / "mail.fullchain.pem").write_text("certificate\n")
    (tmp_path / "mail.key").write_text("key\n")
    return _vars(
        mail_domains=[{"name": "lab.example.org"}],
        mail_mailboxes=[{"address": "an@lab.example.org", "quota": "2G"}],
        mail_password_seed="s" * 16,
        mail_hostname="mail-1.lab.example.org",
        mail_tls_certificate=str(tmp_path / "mail.fullchain.pem"),
        mail_tls_key=str(tmp_path / "mail.key"),
        **variables,
    )


def test_mail_accepts_good_input(tmp_path: Path) -> None:
    _passes(_run("mail", _mail_vars(tmp_path), tmp_path, _mail_inventory()))


def test_mail_names_every_bad_input(tmp_path: Path) -> None:
    variables = {
        **_mail_vars(tmp_path),
        "mail_hostname": "mail_1",
        "mail_vmail_uid": 50,
        "mail_mailboxes": [
            {"address": "an@lab.example.org", "quota": "2G"},
            {"address": "binh@lab.example.org", "quota": "2GB"},
        ],
        "mail_password_seed": "short",
        "mail_tls_key": str(tmp_path / "missing.key"),
    }
    message = _failure(_run("mail", variables, tmp_path, _mail_inventory()))
    _assert_says_all(
        message,
        "mail_hostname ('mail_1') and every mail_domains name must be DNS names,",
        "mail_quota_warning_percent 1..99, mail_vmail_uid >= 100",
        "mail_mailboxes: a quota must be a whole number and K, M, G or T (such as 2G) and state"
        " active or disabled; not so for binh@lab.example.org",
        "mail_password_seed is missing or shorter than 16 characters",
        f"localhost: missing {tmp_path}/missing.key. The mail certificate comes from the"
        " centre's CA",
    )
    assert "an@lab.example.org" not in message


# app_service: the artifact is a file on the controller with the inventory's checksum


def _app(tmp_path: Path, **entry: Any) -> dict[str, Any]:
    archive = tmp_path / "eoffice-1.tar.gz"
    archive.write_bytes(b"release 1")
    artifact = {"version": "1", "sha256": hashlib.sha256(b"release 1").hexdigest()}
    app = {
        "name": "eoffice",
        "port": 8001,
        "version": "1",
        "artifacts": [{**artifact, "source": str(archive)}],
        "secrets": {"SECRET_KEY": "vault_app_secret_key_eoffice"},
    }
    return {**app, **entry}


def _app_vars(*apps: dict[str, Any], **variables: Any) -> dict[str, Any]:
    secrets = {"vault_app_secret_key_eoffice": "k" * 48}
    return _vars(app_service_apps=list(apps), **{**secrets, **variables})


def test_app_service_accepts_good_input(tmp_path: Path) -> None:
    _passes(_run("app_service", _app_vars(_app(tmp_path)), tmp_path))


def test_app_service_names_every_bad_input(tmp_path: Path) -> None:
    bad = _app(tmp_path, name="hcc", port=80, environment={"PDIC_APP_X": "1"})
    variables = _app_vars(_app(tmp_path), bad, app_service_db_sslmode="disable")
    message = _failure(_run("app_service", variables, tmp_path))
    _assert_says_all(
        message,
        "app_service_apps[hcc]: name must be a slug of at most 24 characters, port a whole number"
        " 1024..65535 (got '80')",
        "app_service_db_sslmode verify-full, verify-ca or require (got 'disable')",
    )
    assert "app_service_apps[eoffice]" not in message
    # The vault and the artifacts are looked at once every application is well formed.
    assert "is not set" not in message and "does not exist" not in message


def test_app_service_names_a_missing_secret_without_its_value(tmp_path: Path) -> None:
    variables = _app_vars(_app(tmp_path), vault_app_secret_key_eoffice="short-secret")
    message = _failure(_run("app_service", variables, tmp_path))
    assert message.startswith(
        "eoffice: vault_postgresql_password_ or one of ['vault_app_secret_key_eoffice'] is not set"
        " (or shorter than 16)"
    )
    assert "short-secret" not in message


def test_app_service_names_a_missing_artifact(tmp_path: Path) -> None:
    app = _app(tmp_path)
    app["artifacts"][0]["source"] = str(tmp_path / "missing.tar.gz")
    message = _failure(_run("app_service", _app_vars(app), tmp_path))
    assert message == (
        f"eoffice 1: {tmp_path}/missing.tar.gz does not exist (the reference applications are"
        " built by `pdic app build`)"
    )


# fail2ban


def test_fail2ban_accepts_its_defaults(tmp_path: Path) -> None:
    _passes(_run("fail2ban", _vars(fail2ban_trusted=["10.251.0.1/32", "10.251.0.61"]), tmp_path))


def test_fail2ban_names_every_bad_input(tmp_path: Path) -> None:
    variables = _vars(
        fail2ban_mail_jails="yes",
        fail2ban_findtime=0,
        fail2ban_bantime_maxtime=60,
        fail2ban_trusted=["10.251.0.1/32", "mon-1"],
        fail2ban_status_file="run/status",
    )
    message = _failure(_run("fail2ban", variables, tmp_path))
    _assert_says_all(
        message,
        "fail2ban_enabled, fail2ban_mail_jails and fail2ban_bantime_increment must be true"
        " or false",
        "fail2ban_maxretry, fail2ban_findtime, fail2ban_bantime, fail2ban_bantime_maxtime and"
        " fail2ban_status_interval must be whole numbers > 0 (seconds, maxretry a count), and"
        " fail2ban_bantime_maxtime at least fail2ban_bantime; got 5, 0, 3600, 60, 60",
        "fail2ban_trusted and fail2ban_ignoreip must list addresses or CIDRs, got mon-1",
        "fail2ban_status_file must be an absolute path, got 'run/status'",
    )


def test_fail2ban_jails_render_with_the_trusted_addresses(tmp_path: Path) -> None:
    out = tmp_path / "pdic.local"
    tasks = (
        "    - ansible.builtin.include_role:\n        name: fail2ban\n"
        "        tasks_from: preflight\n"
        "        public: true\n"
        "    - ansible.builtin.template:\n"
        f"        src: {ROOT}/roles/fail2ban/templates/etc/fail2ban/jail.d/pdic.local.j2\n"
        f"        dest: {out}\n"
        "        mode: '0644'\n"
        "      vars:\n"
        "        _fail2ban_ignoreip: \"{{ ['127.0.0.1/8', '::1'] + fail2ban_trusted }}\"\n"
    )
    variables = _vars(fail2ban_trusted=["10.251.0.1/32", "10.251.0.61"], fail2ban_mail_jails=True)
    _passes(_run("fail2ban", variables, tmp_path, tasks=tasks))
    text = out.read_text(encoding="utf-8")
    assert "ignoreip = 127.0.0.1/8 ::1 10.251.0.1/32 10.251.0.61\n" in text
    assert "backend = systemd\n" in text and "banaction = nftables-multiport\n" in text
    assert text.count("enabled = true\n") == 3


# clamav


def test_clamav_accepts_its_defaults_and_the_lab_settings(tmp_path: Path) -> None:
    _passes(_run("clamav", _vars(), tmp_path))
    lab = _vars(
        clamav_signatures="local",
        clamav_scan_paths=["/var/lib/pdic-apps/hcc/storage"],
        clamav_database_mirror="http://clamav-mirror.thaibinh.gov.vn:8080/clamav",
    )
    _passes(_run("clamav", lab, tmp_path))


def test_clamav_names_every_bad_input(tmp_path: Path) -> None:
    variables = _vars(
        clamav_enabled="yes",
        clamav_signatures="internet",
        clamav_database_mirror="ftp://mirror.example.org",
        clamav_max_threads=0,
        clamav_max_file_size="32 MB",
        clamav_scan_paths=["/var/lib/pdic-apps/hcc/storage", "uploads", "/srv/my uploads"],
        clamav_scan_schedule="",
    )
    message = _failure(_run("clamav", variables, tmp_path))
    _assert_says_all(
        message,
        "clamav_enabled and clamav_concurrent_database_reload must be true or false",
        "clamav_signatures must be freshclam (ClamAV's databases, or clamav_database_mirror) or"
        " local (pdic's own test database, for a lab), got 'internet'",
        "clamav_database_mirror must be empty, a host name or an http(s) URL of the centre's"
        " mirror, got 'ftp://mirror.example.org'",
        "clamav_freshclam_checks (1..50), clamav_freshclam_first_download_timeout,"
        " clamav_max_threads and clamav_check_interval must be whole numbers > 0;"
        " got 12, 900, 0, 60",
        "clamav_max_file_size must be a size as clamd writes it (32M, 4096K), got '32 MB'",
        "must be absolute paths (not /) without spaces, quotes or backslashes, got 'uploads'",
        "got '/srv/my uploads'",
        "clamav_scan_schedule and clamav_scan_randomized_delay must not be empty",
    )
    assert "/var/lib/pdic-apps/hcc/storage'" not in message


def test_mail_refuses_the_antivirus_without_rspamd(tmp_path: Path) -> None:
    variables = {
        **_mail_vars(tmp_path),
        "mail_spam_filter": False,
        "mail_antivirus_enabled": True,
    }
    message = _failure(_run("mail", variables, tmp_path, _mail_inventory()))
    assert message == (
        "mail_antivirus_enabled needs mail_spam_filter (rspamd asks clamd) and"
        " mail_antivirus_socket an absolute path (got '/run/clamav/clamd.ctl')"
    )
