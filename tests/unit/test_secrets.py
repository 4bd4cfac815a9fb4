"""pdic secrets ensure: missing secrets are created in the inventory's vault file, never changed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pdic import secrets
from pdic.inventory import load_valid_inventory
from pdic.secrets import Declared, EnsureResult, SecretsError, ensure_secrets

VALID = Path(__file__).resolve().parents[1] / "inventory_corpus" / "_valid"


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    root = tmp_path / "inv"
    shutil.copytree(VALID, root)
    password = tmp_path / "vault-password"
    password.write_text("correct horse battery staple\n")
    (root / "group_vars" / "all" / "secrets.yml").write_text(
        f"---\npdic_vault_password_file: {password}\n"
        "pdic_secrets:\n"
        "  - {name: vault_postgresql_password_app, length: 24}\n"
        "  - {name: vault_pgbackrest_cipher_pass, length: 64}\n"
    )
    return root


def ensure(root: Path, *, dry_run: bool = False) -> EnsureResult:
    return ensure_secrets(load_valid_inventory(root), dry_run=dry_run)


def _decrypt(root: Path) -> dict[str, str]:
    password = root.parent / "vault-password"
    return secrets.read_vault(root / secrets.VAULT_FILE, password)


def test_missing_secrets_are_created_encrypted(inventory: Path) -> None:
    result = ensure(inventory)
    assert result.created == ("vault_postgresql_password_app", "vault_pgbackrest_cipher_pass")
    path = inventory / "group_vars" / "all" / "vault.yml"
    assert path.read_bytes().startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    assert path.stat().st_mode & 0o777 == 0o600
    values = _decrypt(inventory)
    assert len(values["vault_postgresql_password_app"]) == 24
    assert len(values["vault_pgbackrest_cipher_pass"]) == 64
    assert values["vault_pgbackrest_cipher_pass"].isalnum()


def test_existing_values_are_never_changed(inventory: Path) -> None:
    ensure(inventory)
    before = _decrypt(inventory)
    ciphertext = (inventory / secrets.VAULT_FILE).read_bytes()
    again = ensure(inventory)
    assert again.created == ()
    assert (inventory / secrets.VAULT_FILE).read_bytes() == ciphertext  # not even re-encrypted
    decl = inventory / "group_vars" / "all" / "secrets.yml"
    decl.write_text(decl.read_text() + "  - {name: vault_new_one}\n")
    third = ensure(inventory)
    assert third.created == ("vault_new_one",)
    after = _decrypt(inventory)
    assert {k: after[k] for k in before} == before
    assert len(after["vault_new_one"]) == 32


def test_ansible_reads_the_vault_file(inventory: Path) -> None:
    ensure(inventory)
    view = Path(sys.executable).parent / "ansible-vault"
    out = subprocess.run(
        [
            str(view),
            "view",
            "--vault-password-file",
            str(inventory.parent / "vault-password"),
            str(inventory / secrets.VAULT_FILE),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert set(yaml.safe_load(out)) == {
        "vault_postgresql_password_app",
        "vault_pgbackrest_cipher_pass",
    }


def test_the_loader_skips_the_encrypted_file(inventory: Path) -> None:
    from pdic.inventory import check_inventory

    ensure(inventory)
    assert check_inventory(inventory) == []


def test_wrong_password_is_one_clear_error(inventory: Path) -> None:
    ensure(inventory)
    (inventory.parent / "vault-password").write_text("another\n")
    with pytest.raises(SecretsError, match="cannot decrypt"):
        ensure(inventory)


def test_a_plain_vault_file_is_refused(inventory: Path) -> None:
    (inventory / secrets.VAULT_FILE).write_text("vault_x: plain\n")
    with pytest.raises(SecretsError, match="is not vault-encrypted"):
        ensure(inventory)


def test_missing_password_file_is_named(inventory: Path) -> None:
    (inventory.parent / "vault-password").unlink()
    with pytest.raises(SecretsError, match="does not exist"):
        ensure(inventory)


def test_nothing_declared_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "inv"
    shutil.copytree(VALID, root)
    assert ensure(root).created == ()
    assert not (root / secrets.VAULT_FILE).exists()


def test_a_hex_secret_is_hexadecimal_digits(inventory: Path) -> None:
    decl = inventory / "group_vars" / "all" / "secrets.yml"
    decl.write_text(decl.read_text() + "  - {name: vault_totp_annv, length: 40, format: hex}\n")
    assert ensure(inventory).created[-1] == "vault_totp_annv"
    value = _decrypt(inventory)["vault_totp_annv"]
    assert len(value) == 40 and set(value) <= set("0123456789abcdef")
    assert secrets.declared(load_valid_inventory(inventory))[-1] == Declared(
        "vault_totp_annv", 40, "hex"
    )


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(SecretsError, match="unknown secret format 'base32'"):
        secrets.generate(32, "base32")


def test_merge_keeps_and_adds() -> None:
    merged, created = secrets.merge({"a": "x", "b": ""}, [Declared("a"), Declared("b", 16)])
    assert merged["a"] == "x" and len(merged["b"]) == 16 and created == ["b"]


def test_the_lab_declares_a_password_for_every_login_role() -> None:
    lab = Path(__file__).resolve().parents[2] / "inventory" / "lab"
    from pdic.inventory import load_inventory

    inv = load_inventory(lab)
    names = {s.name for s in secrets.declared(inv)}
    roles = inv.vars["postgresql_roles"]
    login = {r["name"] for r in roles if r.get("groups")}
    assert {f"vault_postgresql_password_{r}" for r in login} <= names
    assert "vault_pgbackrest_cipher_pass" in names


def test_a_dry_run_names_what_it_would_create_and_writes_nothing(inventory: Path) -> None:
    planned = ensure(inventory, dry_run=True)
    assert planned.created == ("vault_postgresql_password_app", "vault_pgbackrest_cipher_pass")
    assert not (inventory / secrets.VAULT_FILE).exists()
    ensure(inventory)
    ciphertext = (inventory / secrets.VAULT_FILE).read_bytes()
    decl = inventory / "group_vars" / "all" / "secrets.yml"
    decl.write_text(decl.read_text() + "  - {name: vault_new_one}\n")
    assert ensure(inventory, dry_run=True).created == ("vault_new_one",)
    assert (inventory / secrets.VAULT_FILE).read_bytes() == ciphertext
