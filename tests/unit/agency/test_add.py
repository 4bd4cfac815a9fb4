"""pdic agency add on a copy of inventory/lab: round trip, refusals, dry run, the CLI."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from pdic.agency import add, index
from pdic.cli import main
from pdic.errors import AgencyError
from pdic.inventory import check_inventory, load_inventory

from .conftest import PROVINCE, SPEC, snapshot, spec


def test_add_appends_and_keeps_the_rest_of_the_file(inv: Path, tmp_path: Path) -> None:
    before = (inv / PROVINCE).read_text(encoding="utf-8")
    others = {k: v for k, v in snapshot(inv).items() if k != str(PROVINCE)}
    result = add.plan(inv, spec(tmp_path))
    assert add.apply(result) == [inv / PROVINCE]
    after = (inv / PROVINCE).read_text(encoding="utf-8")
    comment = "# The 27 component portals of the reference inventory (inventory/thaibinh/), renamed"
    assert f"\n\n{comment} into the\n" in after
    # Every original line is still there, in order; the only new lines are the entries.
    old, new = before.splitlines(), after.splitlines()
    ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    assert {op for op, *_ in ops} == {"equal", "insert"}
    added = [line for op, _, _, j1, j2 in ops if op == "insert" for line in new[j1:j2]]
    assert added == [
        "  - id: so-chuyen-doi-so",
        '    name: "Sở Chuyển đổi số"',
        "    tier: province",
        "    parent: ubnd-tinh",
        "    domain: socds.lab.pdic.internal",
        "  - name: socds",
        "    hostname: socds.lab.pdic.internal",
        "    agency: so-chuyen-doi-so",
        '    title: "Cổng thông tin điện tử Sở Chuyển đổi số"',
        "  - name: socds.lab.pdic.internal",
        "    agency: so-chuyen-doi-so",
        "    host: mail-1",
        "  - address: vanthu@socds.lab.pdic.internal",
        '    name: "Văn thư"',
        "    agency: so-chuyen-doi-so",
        "    quota: 2G",
        "  - address: chanhvp@socds.lab.pdic.internal",
        '    name: "Chánh văn phòng"',
        "    agency: so-chuyen-doi-so",
        "    quota: 1G",
    ]
    # The section comment still follows the agencies' list, not the new agency.
    assert after.index("    domain: socds.lab.pdic.internal\n\n# The 27 component") > 0
    assert {k: v for k, v in snapshot(inv).items() if k != str(PROVINCE)} == others
    assert check_inventory(inv) == []
    found = index.index(load_inventory(inv))
    assert found.get("so-chuyen-doi-so").row()["mailboxes"] == 2
    assert "site-socds" in result.notes[0]


def test_a_count_of_mailboxes_is_named_after_the_agency(inv: Path, tmp_path: Path) -> None:
    text = SPEC.replace(
        '    - {local: vanthu, name: "Văn thư", quota: 2G}\n'
        '    - {local: chanhvp, name: "Chánh văn phòng"}\n',
        "    3\n",
    ).replace("  mailboxes:\n    3\n", "  mailboxes: 3\n  quota: 500M\n")
    add.apply(add.plan(inv, spec(tmp_path, text)))
    boxes = index.index(load_inventory(inv)).get("so-chuyen-doi-so").mailboxes
    assert [(b["address"], b["name"], b["quota"]) for b in boxes] == [
        (f"hopthu{n}@socds.lab.pdic.internal", f"Hộp thư {n} - Sở Chuyển đổi số", "500M")
        for n in (1, 2, 3)
    ]


def test_dry_run_prints_a_diff_and_writes_nothing(
    inv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(inv)
    assert main(["agency", "add", str(spec(tmp_path)), "-i", str(inv), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"--- a/{PROVINCE}\n+++ b/{PROVINCE}\n@@ ")
    assert "\n+  - id: so-chuyen-doi-so\n" in out
    assert snapshot(inv) == before


def test_cli_add_writes(inv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agency", "add", str(spec(tmp_path)), "-i", str(inv)]) == 0
    assert capsys.readouterr().out.startswith(f"{inv / PROVINCE}: written\n")
    assert main(["agency", "show", "so-chuyen-doi-so", "-i", str(inv), "--offline"]) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("id: so-chuyen-doi-so", "id: so-tu-phap"), "id: agency 'so-tu-phap' exists"),
        (("parent: ubnd-tinh", "parent: nosuch"), "parent: no agency 'nosuch'"),
        (
            ("domain: socds.lab.pdic.internal", "domain: sotuphap.lab.pdic.internal"),
            "mail.domain: mail domain 'sotuphap.lab.pdic.internal' is already used",
        ),
        (("  name: socds\n", "  name: sotuphap\n"), "site.name: site 'sotuphap' exists"),
        (
            ("hostname: socds.lab", "hostname: soyte.lab"),
            "site.hostname: duplicate site hostname 'soyte.lab.pdic.internal'",
        ),
        (("host: mail-1", "host: db-1"), "mail.host: 'db-1' is not in group mail"),
        (("tier: province", "tier: village"), "tier: 'village' is not one of"),
        (("tier: province\n", ""), "tier: missing"),
        (("local: vanthu", "local: Văn"), "mail.mailboxes[0].local: 'Văn' is not"),
        (("quota: 2G", "quota: 2GB"), "mail.mailboxes[0].quota: '2GB'"),
        (("site:\n", "sites:\n"), "sites: unknown key"),
        (("tier: province", "tier: commune\nparent2: x"), "parent2: unknown key"),
    ],
)
def test_refusals_name_the_key_and_write_nothing(
    inv: Path, tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    before = snapshot(inv)
    path = spec(tmp_path, SPEC.replace(*change))
    with pytest.raises(AgencyError) as caught:
        add.plan(inv, path)
    assert f"{path}: {message}" in str(caught.value).splitlines()[0]
    assert snapshot(inv) == before


def test_a_commune_below_a_commune_is_refused_by_the_inventory_rules(
    inv: Path, tmp_path: Path
) -> None:
    text = SPEC.replace("tier: province", "tier: district").replace(
        "parent: ubnd-tinh", "parent: huyen-mau-xa-mot"
    )
    with pytest.raises(AgencyError, match="parent: parent 'huyen-mau-xa-mot' is a commune"):
        add.plan(inv, spec(tmp_path, text))


def test_a_file_that_would_be_reformatted_is_refused(inv: Path, tmp_path: Path) -> None:
    province = inv / PROVINCE
    province.write_text(
        province.read_text(encoding="utf-8").replace("tier: district\n", "tier:   district\n"),
        encoding="utf-8",
    )
    with pytest.raises(AgencyError, match="would not be written back as it is"):
        add.plan(inv, spec(tmp_path))
