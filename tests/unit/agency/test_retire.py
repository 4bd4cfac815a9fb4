"""pdic agency retire on copies of inventory/lab: the plan, the byte-for-byte round trip with
add, merges, every refusal (one line, exit 2, nothing written), and the steps with --yes
(inventory, revocations, converge) with fake revocation and Ansible."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from pdic.agency import add, index, retire
from pdic.cli import main
from pdic.errors import AgencyError
from pdic.inventory import check_inventory, load_inventory

from .conftest import PROVINCE, snapshot, spec
from .conftest import SPEC as NEW

OTHER = """\
id: so-moi
name: "Sở Mới"
tier: province
parent: ubnd-tinh
mail:
  domain: somoi.lab.pdic.internal
  mailboxes:
    - {local: vanthu, name: "Văn thư Sở Mới"}
"""


def added(inv: Path, tmp_path: Path, text: str, name: str) -> None:
    add.apply(add.plan(inv, spec(tmp_path, text, f"{name}.yml")))


def province(inv: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((inv / PROVINCE).read_text(encoding="utf-8"))
    return data


# -- the round trip ---------------------------------------------------------------------------


def test_add_then_retire_gives_back_the_inventory_byte_for_byte(inv: Path, tmp_path: Path) -> None:
    before = snapshot(inv)
    added(inv, tmp_path, NEW, "new")
    assert snapshot(inv) != before
    plan = retire.plan(inv, "so-chuyen-doi-so")
    assert retire.write(plan) == [inv / PROVINCE]
    assert snapshot(inv) == before


def test_a_merge_into_an_added_agency_then_its_retirement_gives_it_back_too(
    inv: Path, tmp_path: Path
) -> None:
    before = snapshot(inv)
    added(inv, tmp_path, NEW, "new")
    added(inv, tmp_path, OTHER, "other")
    merged = retire.plan(inv, "so-chuyen-doi-so", "so-moi")
    retire.write(merged)
    assert check_inventory(inv) == []
    data = province(inv)
    aliases = {a["address"]: a for a in data["mail_aliases"]}
    # The same local part where the other agency has it, else its first mailbox.
    assert aliases["vanthu@socds.lab.pdic.internal"]["to"] == ["vanthu@somoi.lab.pdic.internal"]
    assert aliases["chanhvp@socds.lab.pdic.internal"]["to"] == ["vanthu@somoi.lab.pdic.internal"]
    assert {aliases[a]["agency"] for a in aliases if "socds" in a} == {"so-moi"}
    domains = {d["name"]: d["agency"] for d in data["mail_domains"]}
    assert domains["socds.lab.pdic.internal"] == "so-moi"
    assert not [m for m in data["mail_mailboxes"] if m["agency"] == "so-chuyen-doi-so"]
    assert "so-chuyen-doi-so" not in {a["id"] for a in data["pdic_agencies"]}
    found = index.index(load_inventory(inv)).get("so-moi")
    assert [d["name"] for d in found.mail_domains] == [  # in the inventory's order
        "socds.lab.pdic.internal",
        "somoi.lab.pdic.internal",
    ]
    retire.write(retire.plan(inv, "so-moi"))
    assert snapshot(inv) == before


def test_the_plan_says_what_it_does(inv: Path, tmp_path: Path) -> None:
    added(inv, tmp_path, NEW, "new")
    plan = retire.plan(inv, "so-chuyen-doi-so", "so-tu-phap")
    text = "\n".join(plan.lines())
    assert text.startswith(
        "retire so-chuyen-doi-so (Sở Chuyển đổi số), merged into so-tu-phap (Sở Tư pháp):\n"
        "1. the inventory (group_vars/all/province.yml):\n"
    )
    assert (
        "mail_mailboxes: 2 removed (vanthu@socds.lab.pdic.internal, "
        "chanhvp@socds.lab.pdic.internal): their mail is archived on mail-1 under "
        "/var/vmail-archive, never deleted, and they can no longer log in"
    ) in text
    # so-tu-phap has no vanthu@: its first mailbox takes them.
    assert (
        "mail_aliases: vanthu@socds.lab.pdic.internal -> haivd@sotuphap.lab.pdic.internal "
        "(of so-tu-phap)"
    ) in text
    assert "mail_domains: socds.lab.pdic.internal passes to so-tu-phap" in text
    assert "2. the CA revokes (cessationOfOperation): portal-1:site-socds\n" in text
    assert (
        "ansible-playbook playbooks/site.yml --limit portal-1,mail-1,mon-1 "
        "--tags etc_hosts,web,monitoring,mail,aide"
    ) in text
    assert plan.revocations == ["portal-1:site-socds"]
    assert "+    agency: so-tu-phap\n" in plan.diff()


def test_an_existing_agency_leaves_the_others_aliases_and_its_organisation_certificates(
    inv: Path,
) -> None:
    plan = retire.plan(inv, "so-tu-phap")
    retire.write(plan)
    assert check_inventory(inv) == []
    data = province(inv)
    vanthu = next(a for a in data["mail_aliases"] if a["address"] == "vanthu@lab.pdic.internal")
    assert vanthu["to"] == ["vanthu.huyenmau@lab.pdic.internal", "vanthu.xamot@lab.pdic.internal"]
    assert "mail_aliases: vanthu@lab.pdic.internal no longer sends to " in "\n".join(plan.changes)
    eoffice = yaml.safe_load((inv / "group_vars" / "eoffice.yml").read_text(encoding="utf-8"))
    assert eoffice["pdic_certificate_files"] == [
        {"path": "/etc/pdic/org-signing/so-noi-vu*.crt", "agency": "so-noi-vu"},
        "/etc/pdic/org-signing/*.crt",
        "/etc/pdic/org-signing/*.pem",
    ]
    assert any("ask it to revoke it" in note for note in plan.notes)
    # The comments of the edited group file are kept.
    assert (
        (inv / "group_vars" / "eoffice.yml")
        .read_text(encoding="utf-8")
        .startswith("---\n# E-office hosts.")
    )
    assert plan.converge.hosts == ("portal-1", "eoffice-1", "mail-1", "mon-1")


# -- refusals ---------------------------------------------------------------------------------


REFUSALS = [
    (["nosuch"], ["group_vars/all/province.yml: pdic_agencies: no agency 'nosuch' "]),
    (
        ["so-tu-phap", "--merge-into", "so-tu-phap"],
        ["--merge-into: 'so-tu-phap' is the agency being retired"],
    ),
    (
        ["so-tu-phap", "--merge-into", "so-khac"],
        ["group_vars/all/province.yml: pdic_agencies: no agency 'so-khac' to merge into"],
    ),
    (
        ["huyen-mau"],
        [
            "group_vars/all/province.yml: pdic_agencies[4].parent: agency 'huyen-mau-xa-mot' "
            "names 'huyen-mau' as its parent: retire it or give it another parent first"
        ],
    ),
    (
        ["so-thong-tin"],
        [
            f"group_vars/all/monitoring.yml: alertmanager_receivers[{i}].email_to[0]: "
            f"'{address}@lab.pdic.internal' is an address of 'so-thong-tin', which retiring it "
            "removes: use --merge-into or change the receiver first"
            for i, address in enumerate(
                ["oncall", "oncall-web", "oncall-mail", "oncall-db", "oncall-security"]
            )
        ],
    ),
]


@pytest.mark.parametrize(
    ("args", "lines"),
    REFUSALS,
    ids=["unknown", "into-itself", "into-unknown", "a-parent", "mailed-by-alertmanager"],
)
def test_bad_input_is_one_line_each_exit_2_and_nothing_written(
    inv: Path, args: list[str], lines: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(inv)
    assert main(["agency", "retire", *args, "-i", str(inv), "--yes"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(lines)
    for line, expected in zip(err, lines, strict=True):
        assert line.startswith(f"pdic: error: {expected}"), line
    assert snapshot(inv) == before


def test_a_domain_others_still_use_is_refused_without_a_merge(inv: Path, tmp_path: Path) -> None:
    added(inv, tmp_path, NEW, "new")
    text = (inv / PROVINCE).read_text(encoding="utf-8")
    text = text.replace(
        "  - address: hopthuday@lab.pdic.internal\n",
        '  - address: khach@socds.lab.pdic.internal\n    name: "Khách"\n'
        "    agency: so-tu-phap\n    quota: 1G\n  - address: hopthuday@lab.pdic.internal\n",
    )
    (inv / PROVINCE).write_text(text, encoding="utf-8")
    with pytest.raises(AgencyError) as info:
        retire.plan(inv, "so-chuyen-doi-so")
    assert str(info.value) == (
        "group_vars/all/province.yml: mail_mailboxes[11].address: "
        "'khach@socds.lab.pdic.internal' of agency 'so-tu-phap' is in 'socds.lab.pdic.internal', "
        "a mail domain retiring 'so-chuyen-doi-so' removes: use --merge-into or move it first"
    )
    retire.plan(inv, "so-chuyen-doi-so", "so-tu-phap")  # a merge keeps the domain: accepted


def test_an_alias_left_with_no_recipient_is_refused(inv: Path, tmp_path: Path) -> None:
    added(inv, tmp_path, NEW, "new")
    text = (inv / PROVINCE).read_text(encoding="utf-8")
    text += (
        "  - address: socds@lab.pdic.internal\n    to:\n      - vanthu@socds.lab.pdic.internal\n"
        "    agency: ubnd-tinh\n"
    )
    (inv / PROVINCE).write_text(text, encoding="utf-8")
    with pytest.raises(AgencyError, match=r"mail_aliases\[6\]\.to: every recipient of "):
        retire.plan(inv, "so-chuyen-doi-so")


def test_a_merge_into_an_agency_without_mailbox_is_refused(inv: Path, tmp_path: Path) -> None:
    added(inv, tmp_path, NEW, "new")
    with pytest.raises(AgencyError, match="agency 'tien-hai' has no mailbox to receive"):
        retire.plan(inv, "so-chuyen-doi-so", "tien-hai")


# -- doing it ---------------------------------------------------------------------------------


def _fakes(calls: list[Any], fail_at: str = "") -> dict[str, Any]:
    def revoke(inventory: Any, target: str, reason: str) -> Any:
        calls.append(("revoke", target, reason, "so-chuyen-doi-so" in inventory.vars["pdic_env"]))
        if fail_at == "revoke":
            raise RuntimeError("ca-1: cannot reach the CA host")
        return SimpleNamespace(serial="1A2B", already=False)

    def converge(inventory: Any, plan: Any) -> Any:
        agencies = {a["id"] for a in inventory.vars["pdic_agencies"]}
        calls.append(("converge", plan.limit, plan.tag_list, "so-chuyen-doi-so" in agencies))
        return SimpleNamespace(success=fail_at != "converge")

    return {"revoke": revoke, "converge": converge}


def test_execute_writes_then_revokes_then_converges(inv: Path, tmp_path: Path) -> None:
    added(inv, tmp_path, NEW, "new")
    plan = retire.plan(inv, "so-chuyen-doi-so")
    calls: list[Any] = []
    said: list[str] = []
    outcome = retire.execute(plan, say=said.append, **_fakes(calls))
    assert calls == [
        ("revoke", "portal-1:site-socds", "cessationOfOperation", False),
        ("converge", "portal-1,mail-1,mon-1", "etc_hosts,web,monitoring,mail,aide", False),
    ]
    assert outcome.written == [inv / PROVINCE] and outcome.revoked == ["portal-1:site-socds"]
    assert said[1] == "done: portal-1:site-socds revoked, serial 1A2B; the CRL is published"
    assert said[-1] == "done: portal-1,mail-1,mon-1 converged"


def test_a_failed_revocation_says_how_to_finish(inv: Path, tmp_path: Path) -> None:
    added(inv, tmp_path, NEW, "new")
    plan = retire.plan(inv, "so-chuyen-doi-so")
    calls: list[Any] = []
    with pytest.raises(retire.RetireIncomplete) as info:
        retire.execute(plan, **_fakes(calls, "revoke"))
    assert info.value.lines[1:] == [
        "not done: revoking portal-1:site-socds: ca-1: cannot reach the CA host",
        f"to finish: pdic cert revoke portal-1:site-socds --reason cessationOfOperation -i {inv}",
        f"then: pdic deploy -i {inv} --limit portal-1,mail-1,mon-1 "
        "--tags etc_hosts,web,monitoring,mail,aide",
    ]
    assert info.value.lines[0].startswith("done: the inventory written")
    assert [c[0] for c in calls] == ["revoke"]  # the converge did not run


def test_a_failed_converge_says_how_to_finish(inv: Path, tmp_path: Path) -> None:
    added(inv, tmp_path, NEW, "new")
    plan = retire.plan(inv, "so-chuyen-doi-so")
    with pytest.raises(retire.RetireIncomplete) as info:
        retire.execute(plan, **_fakes([], "converge"))
    assert info.value.lines[-1] == (
        f"to finish: pdic deploy -i {inv} --limit portal-1,mail-1,mon-1 "
        "--tags etc_hosts,web,monitoring,mail,aide"
    )


def test_cli_shows_first_and_does_nothing_without_yes(
    inv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    added(inv, tmp_path, NEW, "new")
    before = snapshot(inv)
    assert main(["agency", "retire", "so-chuyen-doi-so", "-i", str(inv), "--diff"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("retire so-chuyen-doi-so (Sở Chuyển đổi số):\n")
    assert "-  - id: so-chuyen-doi-so\n" in out
    assert out.endswith("nothing done: run again with --yes to do it\n")
    assert snapshot(inv) == before


def test_cli_with_yes_revokes_and_converges(
    inv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pdic.deploy
    import pdic.pki.revoke
    from pdic.deploy import DeployResult, HostSummary

    added(inv, tmp_path, NEW, "new")
    calls: list[Any] = []

    def revoke(inventory: Any, target: str, reason: str, connect: Any) -> Any:
        calls.append(("revoke", target, reason))
        return SimpleNamespace(serial="0F", already=False)

    def deploy(inventory: Any, **kwargs: Any) -> DeployResult:
        calls.append(("deploy", kwargs["limit"], kwargs["tags"]))
        return DeployResult(0, [HostSummary("portal-1", ok=10, changed=2)])

    monkeypatch.setattr(pdic.pki.revoke, "revoke", revoke)
    monkeypatch.setattr(pdic.deploy, "deploy", deploy)
    assert main(["agency", "retire", "so-chuyen-doi-so", "-i", str(inv), "--yes"]) == 0
    assert calls == [
        ("revoke", "portal-1:site-socds", "cessationOfOperation"),
        ("deploy", "portal-1,mail-1,mon-1", "etc_hosts,web,monitoring,mail,aide"),
    ]
    out = capsys.readouterr().out
    assert "- done: portal-1:site-socds revoked, serial 0F; the CRL is published\n" in out
    assert out.endswith("so-chuyen-doi-so: retired\n")
    assert "so-chuyen-doi-so" not in (inv / PROVINCE).read_text(encoding="utf-8")


def test_ctrl_c_during_the_converge_says_where_it_stopped(inv: Path, tmp_path: Path) -> None:
    added(inv, tmp_path, NEW, "new")
    plan = retire.plan(inv, "so-chuyen-doi-so")

    def interrupted(inventory: Any, converge: Any) -> Any:
        raise KeyboardInterrupt

    fakes = _fakes([])
    with pytest.raises(retire.RetireIncomplete) as info:
        retire.execute(plan, revoke=fakes["revoke"], converge=interrupted)
    assert info.value.interrupted
    assert info.value.lines[-2:] == [
        "interrupted: the converge of portal-1,mail-1,mon-1 (it may have run in part)",
        f"to finish: pdic deploy -i {inv} --limit portal-1,mail-1,mon-1 "
        "--tags etc_hosts,web,monitoring,mail,aide",
    ]
