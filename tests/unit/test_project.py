"""project_root: PDIC_HOME, else the nearest directory with playbooks/site.yml, else the checkout.

Projects are built under a temporary path; only the fallback uses this checkout.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pdic import project
from pdic.errors import PdicError
from pdic.project import project_root

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_pdic_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PDIC_HOME", raising=False)


def _project(root: Path) -> Path:
    (root / "playbooks").mkdir(parents=True)
    (root / "playbooks" / "site.yml").write_text("---\n[]\n")
    return root


def _no_project_above(path: Path) -> None:
    """Guard: the fallback tests need a start with no playbooks/site.yml above it."""
    assert not any((d / "playbooks" / "site.yml").exists() for d in (path, *path.parents))


def test_pdic_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _project(tmp_path / "pdic")
    monkeypatch.setenv("PDIC_HOME", str(home))
    # PDIC_HOME wins over the project the search would find.
    assert project_root(start=_project(tmp_path / "other")) == home


@pytest.mark.parametrize("layout", ["missing", "empty", "site-is-a-directory"])
def test_pdic_home_without_site_yml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    home = tmp_path / "pdic"
    if layout != "missing":
        home.mkdir()
    if layout == "site-is-a-directory":
        (home / "playbooks" / "site.yml").mkdir(parents=True)
    monkeypatch.setenv("PDIC_HOME", str(home))
    with pytest.raises(
        PdicError, match=f"^PDIC_HOME={re.escape(str(home))}: no playbooks/site.yml there$"
    ):
        project_root(start=REPO)


def test_found_from_a_subdirectory(tmp_path: Path) -> None:
    root = _project(tmp_path / "checkout")
    sub = root / "roles" / "mail" / "tasks"
    sub.mkdir(parents=True)
    assert project_root(start=sub) == root


def test_found_from_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path / "checkout")
    (root / "inventory" / "lab").mkdir(parents=True)
    monkeypatch.chdir(root / "inventory" / "lab")
    assert project_root() == root


def test_the_nearest_project_wins(tmp_path: Path) -> None:
    outer = _project(tmp_path / "outer")
    inner = _project(outer / "vendor" / "inner")
    assert project_root(start=inner / "playbooks") == inner


def test_falls_back_to_the_checkout(tmp_path: Path) -> None:
    _no_project_above(tmp_path)
    assert project_root(start=tmp_path) == REPO


def test_no_project_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_project_above(tmp_path)
    monkeypatch.setattr(project, "__file__", str(tmp_path / "site-packages" / "pdic" / "x.py"))
    with pytest.raises(PdicError, match="set PDIC_HOME"):
        project_root(start=tmp_path)
