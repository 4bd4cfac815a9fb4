"""Unit tests that run ansible-playbook on inventory/lab read its group_vars, which hold the
generated vault file once a deploy has run on this machine (`pdic secrets ensure`): they then
need the lab's vault password, as `pdic deploy` passes it. On a fresh clone there is neither."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pdic.inventory import load_inventory
from pdic.secrets import VAULT_FILE

LAB = Path(__file__).resolve().parents[2] / "inventory" / "lab"


@pytest.fixture(autouse=True, scope="session")
def lab_vault_password() -> None:
    password = load_inventory(LAB).vars.get("pdic_vault_password_file")
    if (LAB / VAULT_FILE).exists() and password and Path(str(password)).is_file():
        os.environ.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", str(password))
