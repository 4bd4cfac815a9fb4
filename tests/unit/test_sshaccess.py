"""pdic.sshaccess: the control networks from the firewall's rules, pam_oath's users file, and an
administrator's TOTP key from the vault."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pdic import secrets
from pdic.cli import main
from pdic.inventory import load_inventory, load_valid_inventory
from pdic.sshaccess import (
    OATH_TYPE,
    USERS_OATH_HEADER,
    AdminError,
    address_in,
    admin_key,
    admins,
    control_networks,
    host_control_networks,
    users_oath,
)
from pdic.totp import TotpError, otpauth_uri, totp

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "tests" / "inventory_corpus" / "_valid"
KEY = "3132333435363738393031323334353637383930"
OTHER_KEY = "00112233445566778899aabbccddeeff00112233"


def test_the_lab_control_network_is_the_control_machine() -> None:
    lab = load_inventory(ROOT / "inventory" / "lab")
    for host in lab.hosts.values():
        assert host_control_networks(host.vars) == ["10.251.0.1/32"], host.name


def test_control_networks_are_the_ssh_rules_sources_less_anyone() -> None:
    rules = [
        {"name": "ssh", "ports": [22], "from_networks": ["192.0.2.0/28", "0.0.0.0/0"]},
        {"name": "ssh v6", "ports": ["22"], "proto": "tcp", "from_networks": ["2001:db8::/64"]},
        {"name": "ssh again", "ports": [2222, 22], "from_networks": ["192.0.2.0/28", "::/0"]},
        {"name": "udp 22", "ports": [22], "proto": "udp", "from_networks": ["198.51.100.0/24"]},
        {"name": "web", "ports": [443], "from_networks": ["203.0.113.0/24"]},
        {"name": "groups only", "ports": [22], "from_groups": ["monitoring"]},
        "not a rule",
    ]
    assert control_networks(rules) == ["192.0.2.0/28", "2001:db8::/64"]
    assert control_networks(rules, "2222") == ["192.0.2.0/28"]
    assert control_networks([]) == []


def test_a_hosts_three_rule_lists_are_read() -> None:
    variables = {
        "firewall_rules": [{"ports": [22], "from_networks": ["192.0.2.1/32"]}],
        "firewall_group_rules": [{"ports": [22], "from_networks": ["192.0.2.2/32"]}],
        "firewall_host_rules": "{{ templated }}",
    }
    assert host_control_networks(variables) == ["192.0.2.1/32", "192.0.2.2/32"]


@pytest.mark.parametrize(
    ("address", "networks", "inside"),
    [
        ("10.251.0.1", ["10.251.0.1/32"], True),
        ("10.251.0.1\n", ["10.251.0.0/24"], True),
        ("10.251.0.31", ["10.251.0.1/32"], False),
        ("2001:db8::5", ["10.251.0.1/32", "2001:db8::/64"], True),
        ("", ["10.251.0.1/32"], False),
        ("10.251.0.1", ["control.lab"], False),
        ("10.251.0.1", [], False),
    ],
)
def test_address_in(address: str, networks: list[str], inside: bool) -> None:
    assert address_in(address, networks) is inside


def test_a_new_users_file_has_one_line_per_administrator() -> None:
    text = users_oath(
        "", [{"name": "annv", "secret": KEY}, {"name": "binhtt", "secret": OTHER_KEY}]
    )
    assert text == (
        f"{USERS_OATH_HEADER}\n{OATH_TYPE}\tannv\t-\t{KEY}\n{OATH_TYPE}\tbinhtt\t-\t{OTHER_KEY}\n"
    )


def test_what_pam_oath_recorded_is_kept_and_removed_administrators_go() -> None:
    # pam_oath rewrites an accepted user's line with the counter, the code and its time.
    used = f"{OATH_TYPE}\tannv\t-\t{KEY}\t0\t755224\t2026-03-01T08:00:00L"
    existing = f"{USERS_OATH_HEADER}\n{used}\n{OATH_TYPE}\tgone\t-\t{OTHER_KEY}\n"
    text = users_oath(existing, [{"name": "annv", "secret": KEY.upper()}])
    assert text == f"{USERS_OATH_HEADER}\n{used}\n"
    assert users_oath(text, [{"name": "annv", "secret": KEY}]) == text  # no change, no write


def test_a_new_key_replaces_the_line_and_its_record() -> None:
    used = f"{OATH_TYPE}\tannv\t-\t{KEY}\t0\t755224\t2026-03-01T08:00:00L"
    text = users_oath(used + "\n", [{"name": "annv", "secret": OTHER_KEY}])
    assert text.splitlines()[1:] == [f"{OATH_TYPE}\tannv\t-\t{OTHER_KEY}"]


def test_a_key_pam_oath_cannot_read_is_refused_without_showing_it() -> None:
    with pytest.raises(TotpError) as caught:
        users_oath("", [{"name": "annv", "secret": "not a key"}])
    assert "not a key" not in str(caught.value)


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    root = tmp_path / "inv"
    shutil.copytree(VALID, root)
    password = tmp_path / "vault-password"
    password.write_text("correct horse battery staple\n")
    password.chmod(0o600)
    (root / "group_vars" / "all" / "admins.yml").write_text(
        f"---\npdic_vault_password_file: {password}\n"
        "pdic_secrets:\n"
        "  - {name: vault_totp_annv, length: 40, format: hex}\n"
        "pdic_admins:\n"
        "  - name: annv\n"
        '    full_name: "Nguyễn Văn An"\n'
        "    authorized_key_files: [/nonexistent/annv.pub]\n"
        "    totp_secret: vault_totp_annv\n"
    )
    return root


def test_an_administrators_key_comes_from_the_vault(inventory: Path) -> None:
    inv = load_valid_inventory(inventory)
    assert [(a.name, a.full_name, a.totp_secret) for a in admins(inv)] == [
        ("annv", "Nguyễn Văn An", "vault_totp_annv")
    ]
    with pytest.raises(AdminError, match=r"no vault_totp_annv .* run `pdic secrets ensure`"):
        admin_key(inv, "annv")
    secrets.ensure_secrets(inv)
    value = secrets.read_vault(inventory / secrets.VAULT_FILE, inventory.parent / "vault-password")
    assert admin_key(inv, "annv") == bytes.fromhex(value["vault_totp_annv"])


def test_an_unknown_administrator_is_named_with_the_known_ones(inventory: Path) -> None:
    with pytest.raises(
        AdminError, match=r"'binhtt' is not an administrator .* \(pdic_admins: annv\)"
    ):
        admin_key(load_valid_inventory(inventory), "binhtt")


# pdic admin totp | enroll


def test_pdic_admin_totp_prints_the_current_code(
    inventory: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    secrets.ensure_secrets(load_valid_inventory(inventory))
    key = admin_key(load_valid_inventory(inventory), "annv")
    monkeypatch.setattr(time, "time", lambda: 1111111109.0)
    assert main(["admin", "totp", "annv", "-i", str(inventory)]) == 0
    captured = capsys.readouterr()
    assert captured.out == totp(key, 1111111109) + "\n"
    assert captured.err == "valid for 1 more seconds\n"


def test_pdic_admin_enroll_prints_the_uri_and_can_make_a_new_key(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets.ensure_secrets(load_valid_inventory(inventory))
    old = admin_key(load_valid_inventory(inventory), "annv")
    assert main(["admin", "enroll", "annv", "-i", str(inventory)]) == 0
    captured = capsys.readouterr()
    assert captured.out == otpauth_uri("annv@example.gov.vn", old, "pdic") + "\n"
    assert "show it to its owner only" in captured.err
    assert main(["admin", "enroll", "annv", "--new-key", "-i", str(inventory)]) == 0
    captured = capsys.readouterr()
    new = admin_key(load_valid_inventory(inventory), "annv")
    assert new != old and len(new) == 20
    assert captured.out == otpauth_uri("annv@example.gov.vn", new, "pdic") + "\n"
    assert "The hosts keep the old key until `pdic deploy --tags hardening`." in captured.err


def test_pdic_admin_names_an_unknown_administrator_in_one_line(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["admin", "totp", "binhtt", "-i", str(inventory)]) == 2
    assert capsys.readouterr().err == (
        f"pdic: error: 'binhtt' is not an administrator of {inventory} (pdic_admins: annv)\n"
    )
