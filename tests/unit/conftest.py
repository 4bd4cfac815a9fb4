"""Unit tests that run ansible-playbook on inventory/lab read its group_vars, which hold the
generated vault file once a deploy has run on this machine (`pdic secrets ensure`): they then
need the lab's vault password, as `pdic deploy` passes it. On a fresh clone there is neither."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
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


@pytest.fixture(autouse=True)
def _journal_kept_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Commands that change hosts write the change journal: in a unit test, to a file of its
    own, with no log host (tests/unit/test_journal.py gives one where it needs it) and no git
    process (the inventory's commit is read by the journal's own tests)."""
    import pdic.journal

    path = tmp_path / "journal.jsonl"
    monkeypatch.setenv("PDIC_JOURNAL", str(path))
    monkeypatch.setattr(pdic.journal, "log_host", lambda inventory: None)
    monkeypatch.setattr(pdic.journal, "git_state", lambda path: ("0" * 40, False))
    return path


@pytest.fixture(autouse=True)
def _no_maintenance_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing commands open an Alertmanager silence; unit tests reach no Alertmanager
    (tests/unit/test_maint.py tests the windows against a recorded one)."""
    import contextlib

    import pdic.maint

    @contextlib.contextmanager
    def no_window(*args: object, **kwargs: object) -> Iterator[None]:
        yield None

    monkeypatch.setattr(pdic.maint, "window", no_window)

    def no_alertmanager(base: str, timeout: float = 5.0) -> pdic.maint.Request:
        def request(method: str, path: str, body: bytes | None) -> object:
            raise pdic.maint.MaintError(f"cannot reach Alertmanager at {base}: a unit test")

        return request

    monkeypatch.setattr(pdic.maint, "http_request", no_alertmanager)


@pytest.fixture
def no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any process a test starts fails it (a unit test runs no Ansible and reaches no host)."""

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError(f"a unit test started a process: {args}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
