"""pdic.vault: the vault password file that deploy and pdic's vault code both use.

A plain file is read, an executable one is run as Ansible runs it (its output is the password),
a file others may read gets one warning, anything else is one clear error.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pdic import secrets, vault
from pdic.deploy import vault_password_args
from pdic.errors import DeployError, PdicError
from pdic.inventory import Inventory, load_valid_inventory
from pdic.secrets import SecretsError, ensure_secrets

VALID = Path(__file__).resolve().parents[1] / "inventory_corpus" / "_valid"
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vault, "_warned", set())


def _file(tmp_path: Path, text: str, mode: int, name: str = "vault-password") -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def _script(tmp_path: Path, body: str, name: str = "vault-password.sh") -> Path:
    return _file(tmp_path, f"#!/bin/sh\n{body}\n", 0o700, name)


def _found(path: Path, warnings: list[str] | None = None) -> Path | None:
    return vault.password_file(
        {vault.KEY: str(path)},
        "inv/group_vars/all",
        PdicError,
        ([] if warnings is None else warnings).append,
    )


def test_a_plain_file_is_read_and_stripped(tmp_path: Path) -> None:
    path = _file(tmp_path, f"{PASSWORD}\n", 0o600)
    warnings: list[str] = []
    assert _found(path, warnings) == path
    assert warnings == []
    assert vault.read_password(path) == PASSWORD.encode()


def test_no_file_named_is_none() -> None:
    assert vault.password_file({}, "inv/group_vars/all") is None


def test_a_script_is_run_and_its_output_is_the_password(tmp_path: Path) -> None:
    path = _script(tmp_path, f"echo '  {PASSWORD}  '")
    assert vault.read_password(path) == PASSWORD.encode()


def test_a_client_script_is_asked_for_the_default_vault_id(tmp_path: Path) -> None:
    path = _script(tmp_path, 'test "$1 $2" = "--vault-id default" && echo ok', "pw-client.sh")
    assert vault.read_password(path) == b"ok"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("echo 'no store' >&2; exit 3", "the vault password script exited with code 3: no store"),
        ("true", "the vault password script printed no password"),
    ],
)
def test_a_failing_script_is_one_error(tmp_path: Path, body: str, message: str) -> None:
    path = _script(tmp_path, body)
    with pytest.raises(SecretsError) as err:
        vault.read_password(path, SecretsError)
    assert str(err.value) == f"{path}: {message}"


def test_a_file_others_may_read_is_warned_about_once(tmp_path: Path) -> None:
    path = _file(tmp_path, PASSWORD, 0o644)
    warnings: list[str] = []
    _found(path, warnings)
    _found(path, warnings)
    assert warnings == [
        f"pdic: warning: {path}: the vault password file is readable by its group or others "
        "(mode 0644); chmod 600 it"
    ]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "{p} does not exist (pdic lab up creates the lab's)"),
        (lambda p: (p.mkdir(), p)[1], "{p} is not a regular file"),
        (lambda p: (p.write_text(""), p)[1], None),
    ],
    ids=["missing", "directory", "empty"],
)
def test_bad_files_are_one_error(
    tmp_path: Path, make: Callable[[Path], Path], message: str | None
) -> None:
    place = tmp_path / "pdic-lab"
    place.mkdir()
    path = make(place / "vault-password")
    if message is None:
        with pytest.raises(PdicError, match="the vault password file is empty"):
            vault.read_password(path)
        return
    with pytest.raises(DeployError) as err:
        vault_password_args(Inventory(Path("inv"), {}, {}, {vault.KEY: str(path)}))
    assert str(err.value) == f"inv/group_vars/all: {vault.KEY}: " + message.format(p=path)


def test_deploy_hands_a_script_to_ansible_as_it_is(tmp_path: Path) -> None:
    path = _script(tmp_path, f"echo {PASSWORD}")
    assert vault_password_args(Inventory(tmp_path, {}, {}, {vault.KEY: str(path)})) == [
        "--vault-password-file",
        str(path),
    ]


def test_secrets_made_with_a_script_are_read_by_ansible_with_it(tmp_path: Path) -> None:
    root = tmp_path / "inv"
    shutil.copytree(VALID, root)
    script = _script(tmp_path, f"echo '{PASSWORD}'")
    (root / "group_vars" / "all" / "secrets.yml").write_text(
        f"---\npdic_vault_password_file: {script}\npdic_secrets:\n  - {{name: vault_x}}\n"
    )
    assert ensure_secrets(load_valid_inventory(root)).created == ("vault_x",)
    view = Path(sys.executable).parent / "ansible-vault"
    out = subprocess.run(
        [str(view), "view", "--vault-password-file", str(script), str(root / secrets.VAULT_FILE)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert set(yaml.safe_load(out)) == {"vault_x"}
    # the same password as a plain file opens it too: the script's output is the password
    plain = _file(tmp_path, PASSWORD, 0o600, "plain")
    assert set(secrets.read_vault(root / secrets.VAULT_FILE, plain)) == {"vault_x"}
