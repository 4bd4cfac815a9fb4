"""pdic.agency.converge: the hosts and tags one agency concerns, for each shape of agency, on
both reference inventories (the lab: one host per service, names in /etc/hosts; Thái Bình:
three portal hosts, two mail hosts, DNS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdic.agency import converge, index

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def lab() -> index.Index:
    from pdic.inventory import load_inventory

    return index.index(load_inventory(REPO / "inventory" / "lab"))


@pytest.fixture(scope="module")
def thaibinh() -> index.Index:
    from pdic.inventory import load_inventory

    return index.index(load_inventory(REPO / "inventory" / "thaibinh"))


def _plan(found: index.Index, agency: str, retiring: bool = False) -> converge.Converge:
    return converge.plan(found.inventory, found.get(agency), retiring=retiring)


def test_lab_agency_with_site_domain_and_organisation_certificate(lab: index.Index) -> None:
    plan = _plan(lab, "so-tu-phap")
    # Inventory order; eoffice-1 holds its organisation certificates, ca-1 only signs.
    assert plan.hosts == ("portal-1", "eoffice-1", "mail-1", "mon-1")
    assert plan.tags == ("etc_hosts", "pki", "web", "monitoring", "mail", "aide")
    assert plan.limit == "portal-1,eoffice-1,mail-1,mon-1"
    assert "serves site sotuphap (web)" in plan.why["portal-1"]
    assert "holds certificate site-sotuphap, signed by the CA (pki)" in plan.why["portal-1"]
    assert "probes https://sotuphap.lab.pdic.internal/ (monitoring)" in plan.why["mon-1"]
    assert plan.why["eoffice-1"][0].startswith("its exporter watches the agency's organisation")
    assert (
        "keeps 4 mailbox(es) of sotuphap.lab.pdic.internal and its DKIM key (mail)"
        in (plan.why["mail-1"])
    )
    assert all(reasons[-1].endswith("(aide)") for reasons in plan.why.values())


def test_lab_agency_without_site_has_only_its_mail_host(lab: index.Index) -> None:
    # huyen-mau-xa-mot: one mailbox in lab.pdic.internal, a domain of another agency.
    plan = _plan(lab, "huyen-mau-xa-mot")
    assert plan.hosts == ("mail-1",)
    assert plan.tags == ("mail", "aide")
    assert plan.why["mail-1"][0] == "keeps 1 mailbox(es) of lab.pdic.internal (mail)"


def test_lab_agency_without_mail_has_no_mail_host(lab: index.Index) -> None:
    plan = _plan(lab, "tien-hai")  # a site, no mail
    assert plan.hosts == ("portal-1", "mon-1")
    assert plan.tags == ("etc_hosts", "pki", "web", "monitoring", "aide")


def test_a_site_of_its_own_files_needs_no_pki(lab: index.Index) -> None:
    agency = lab.get("tien-hai")
    own = index.Agency(
        agency.id,
        agency.name,
        agency.tier,
        agency.parent,
        None,
        sites=[{**agency.sites[0], "tls": {"certificate": "/a.crt", "key": "/a.key"}}],
    )
    plan = converge.plan(lab.inventory, own)
    assert "pki" not in plan.tags and "web" in plan.tags


def test_retiring_revokes_rather_than_issues(lab: index.Index) -> None:
    plan = _plan(lab, "so-tu-phap", retiring=True)
    assert "pki" not in plan.tags
    assert plan.hosts == ("portal-1", "eoffice-1", "mail-1", "mon-1")
    assert "stops serving site sotuphap (web)" in plan.why["portal-1"]
    assert "archives 4 mailbox(es) of sotuphap.lab.pdic.internal (mail)" in plan.why["mail-1"]


def test_thaibinh_domain_on_mail_2_concerns_both_mail_hosts(thaibinh: index.Index) -> None:
    plan = _plan(thaibinh, "tp-thai-binh")  # its domain is kept on mail-2; a site
    assert plan.hosts == ("portal-1", "portal-2", "portal-3", "mail-1", "mail-2", "mon-1")
    # Thái Bình has DNS: no /etc/hosts names.
    assert plan.tags == ("pki", "web", "monitoring", "mail", "aide")
    assert plan.why["mail-2"][0].startswith("keeps 40 mailbox(es) of ")
    assert (
        plan.why["mail-1"][0].startswith("hands mail for ")
        and "to mail-2" in (plan.why["mail-1"][0])
    )


def test_thaibinh_mailboxes_in_a_shared_domain_concern_its_host_only(
    thaibinh: index.Index,
) -> None:
    plan = _plan(thaibinh, "vp-ubnd-tinh")  # mailboxes in thaibinh.gov.vn (ubnd-tinh's)
    assert plan.hosts == ("mail-1",)
    assert plan.tags == ("mail", "aide")


def test_an_agency_with_nothing_on_any_host_converges_nothing(thaibinh: index.Index) -> None:
    plan = _plan(thaibinh, "tp-thai-binh-tien-phong-mttq")
    assert plan.hosts == () and plan.tags == ()
    assert plan.lines()[0].startswith("no host to converge")
    assert plan.command(Path("inventory/thaibinh")) == ""


def test_the_command_that_finishes_it(lab: index.Index) -> None:
    plan = _plan(lab, "tien-hai")
    assert plan.command(Path("inventory/lab")) == (
        "pdic deploy -i inventory/lab --limit portal-1,mon-1 "
        "--tags etc_hosts,pki,web,monitoring,aide"
    )
    assert plan.lines()[0] == (
        "ansible-playbook playbooks/site.yml --limit portal-1,mon-1 "
        "--tags etc_hosts,pki,web,monitoring,aide"
    )


def test_every_tag_the_plans_use_exists_in_the_playbooks_or_roles() -> None:
    import re

    texts = [p.read_text(encoding="utf-8") for p in (REPO / "playbooks").glob("*.yml")]
    texts += [p.read_text(encoding="utf-8") for p in (REPO / "roles").glob("*/tasks/*.yml")]
    found = {
        t.strip()
        for text in texts
        for m in re.findall(r"tags: \[([^\]]*)\]", text)
        for t in m.split(",")
    }
    assert set(converge.TAG_ORDER) <= found
