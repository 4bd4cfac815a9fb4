"""Scores, the exit-code rule and every report writer, on a small fixed result set."""

from __future__ import annotations

import datetime as dt
import json
import math
from html.parser import HTMLParser
from xml.etree import ElementTree as ET

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pdic.compliance.catalogue import Waiver, Waivers, load_catalogue
from pdic.compliance.checks import Evidence
from pdic.compliance.report import (
    Result,
    apply_waivers,
    failed_above,
    host_scores,
    score,
    to_html,
    to_json,
    to_junit,
    to_prometheus,
)

from .fakes import REPO

CATALOGUE = load_catalogue(REPO / "compliance")
C = CATALOGUE.controls
SSHD = Evidence("/usr/sbin/sshd -T", 0, "permitrootlogin yes")
WAIVER = Waiver(
    "PDIC-BAK-004", ("backup-1",), "drills start next month", "Trưởng phòng", dt.date(2030, 1, 1)
)
EXPIRED = Waiver("PDIC-SSH-001", None, "old exception", "Giám đốc", dt.date(2020, 1, 1))
WAIVERS = Waivers(
    active=(WAIVER,), expired=(EXPIRED,), problems=("w.yml: waivers[2].control: bad",)
)
GENERATED = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)


def fixed_results() -> list[Result]:
    """Seven results on three hosts (weights: critical 10, high 5, low 1).

    db-1: SSH-001 fail (10), ACC-012 pass (1), LOG-006 not applicable;
    portal-1: SSH-001 pass (10), SVC-003 error (5);
    backup-1: BAK-004 fail under a waiver (5), SSH-001 pass (10).
    """
    results = [
        Result(C["PDIC-SSH-001"], "db-1", "fail", "permitrootlogin is 'yes'", (SSHD,)),
        Result(C["PDIC-ACC-012"], "db-1", "pass", "Defaults use_pty"),
        Result(C["PDIC-LOG-006"], "db-1", "not_applicable", "not applicable: container"),
        Result(C["PDIC-SSH-001"], "portal-1", "pass", "permitrootlogin no", (SSHD,)),
        Result(C["PDIC-SVC-003"], "portal-1", "error", "443: no TLS 1.2 or 1.3 handshake"),
        Result(C["PDIC-BAK-004"], "backup-1", "fail", "no restore drill record"),
        Result(C["PDIC-SSH-001"], "backup-1", "pass", "permitrootlogin no"),
    ]
    return apply_waivers(results, WAIVERS)


RESULTS = fixed_results()


def test_waivers_apply_to_failures_they_cover_only() -> None:
    outcomes = {(r.control.id, r.host): r.outcome for r in RESULTS}
    assert outcomes[("PDIC-BAK-004", "backup-1")] == "waived"
    # the expired waiver for PDIC-SSH-001 on all hosts hides nothing
    assert outcomes[("PDIC-SSH-001", "db-1")] == "fail"


def test_scores() -> None:
    assert host_scores(RESULTS) == {
        "backup-1": 1.0,  # waived (5) + pass (10) of 15
        "db-1": pytest.approx(1 / 11),  # n/a left out; pass 1 of 10 + 1
        "portal-1": pytest.approx(10 / 15),  # error counts against
    }
    assert score(RESULTS) == pytest.approx((1 + 10 + 5 + 10) / (11 + 15 + 15))
    assert score([RESULTS[2]]) is None


@pytest.mark.parametrize(
    ("severity", "expected"), [("critical", True), ("high", True), ("low", True)]
)
def test_failed_above(severity: str, expected: bool) -> None:
    assert failed_above(RESULTS, severity) is expected


def test_failed_above_ignores_waived_and_lower_severities() -> None:
    waived_and_low = [r for r in RESULTS if r.outcome in ("waived", "pass", "not_applicable")]
    assert not failed_above(waived_and_low, "low")
    only_high_error = [r for r in RESULTS if r.control.id == "PDIC-SVC-003"]
    assert not failed_above(only_high_error, "critical")
    assert failed_above(only_high_error, "high")
    with pytest.raises(ValueError, match="unknown severity"):
        failed_above(RESULTS, "urgent")


def test_json() -> None:
    doc = json.loads(to_json(RESULTS, WAIVERS, GENERATED))
    assert doc["generated"] == "2026-05-01T08:00:00+00:00"
    assert doc["centre"]["counts"] == {
        "pass": 3, "waived": 1, "fail": 1, "error": 1, "not_applicable": 1
    }  # fmt: skip
    assert doc["hosts"]["backup-1"]["score"] == 1.0
    first = doc["results"][0]
    assert (
        first["control"] == "PDIC-SSH-001"
        and first["evidence"][0]["command"] == "/usr/sbin/sshd -T"
    )
    waived = next(r for r in doc["results"] if r["outcome"] == "waived")
    assert waived["waiver"]["approver"] == "Trưởng phòng"
    assert doc["waivers"]["expired"][0]["hosts"] == "all"
    assert doc["controls"]["PDIC-SSH-001"]["title"]["vi"].startswith("Không cho phép")
    assert doc["controls"]["PDIC-SSH-001"]["mappings"]["tcvn_11930_2017"] == ["7.2.2.1", "7.2.2.2"]


def test_junit_has_one_testcase_per_control_and_host() -> None:
    root = ET.fromstring(to_junit(RESULTS))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "7", "1", "1", "1"
    )  # fmt: skip
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"backup-1", "db-1", "portal-1"}
    cases = list(root.iter("testcase"))
    assert len(cases) == len(RESULTS)
    db = {c.get("name", "").split()[0]: c for c in suites["db-1"].iter("testcase")}
    failure = db["PDIC-SSH-001"].find("failure")
    assert failure is not None and failure.get("message") == "permitrootlogin is 'yes'"
    assert "$ /usr/sbin/sshd -T" in (failure.text or "")
    assert db["PDIC-LOG-006"].find("skipped") is not None
    portal = {c.get("name", "").split()[0]: c for c in suites["portal-1"].iter("testcase")}
    assert portal["PDIC-SVC-003"].find("error") is not None
    waived = next(suites["backup-1"].iter("testcase"))
    props = {p.get("name"): p.get("value") for p in waived.iter("property")}
    assert props["outcome"] == "waived" and props["waiver_expires"] == "2030-01-01"
    assert waived.find("failure") is None


def test_prometheus_text_parses_and_carries_status_and_scores() -> None:
    families = {f.name: f for f in text_string_to_metric_families(to_prometheus(RESULTS, WAIVERS))}
    status = {
        (s.labels["control"], s.labels["host"]): (s.value, s.labels["severity"])
        for s in families["pdic_compliance_control_status"].samples
    }
    assert status[("PDIC-SSH-001", "db-1")] == (0.0, "critical")
    assert status[("PDIC-BAK-004", "backup-1")] == (1.0, "high")
    assert ("PDIC-LOG-006", "db-1") not in status  # not applicable: no sample
    ratio = {s.labels["host"]: s.value for s in families["pdic_compliance_score_ratio"].samples}
    assert ratio["backup-1"] == 1.0 and math.isclose(ratio["db-1"], 1 / 11)
    waived = families["pdic_compliance_control_waived"].samples
    assert [(s.labels["control"], s.value) for s in waived] == [("PDIC-BAK-004", 1.0)]
    assert families["pdic_compliance_waivers_expired"].samples[0].value == 1.0
    centre = families["pdic_compliance_centre_score_ratio"].samples[0].value
    assert math.isclose(centre, 26 / 41)


class Cells(HTMLParser):
    """Matrix cells, section languages, and whether anything loads from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str, str], str] = {}
        self.lang = ""
        self.langs: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and "report" in (a.get("class") or ""):
            self.lang = a.get("lang") or ""
            self.langs.append(self.lang)
        if tag == "td" and "cell" in (a.get("class") or "").split():
            key = (self.lang, a.get("data-control") or "", a.get("data-host") or "")
            self.cells[key] = a.get("data-outcome") or ""
        for name in ("src", "href"):
            value = a.get(name) or ""
            if name in a and not value.startswith("#"):
                self.external.append(value)


def test_html_is_self_contained_with_both_languages_and_the_matrix() -> None:
    html = to_html(RESULTS, WAIVERS, GENERATED, title="lab")
    parser = Cells()
    parser.feed(html)
    assert parser.langs == ["vi", "en"]
    assert parser.external == []
    for lang in ("vi", "en"):
        assert parser.cells[(lang, "PDIC-SSH-001", "db-1")] == "fail"
        assert parser.cells[(lang, "PDIC-BAK-004", "backup-1")] == "waived"
        assert parser.cells[(lang, "PDIC-LOG-006", "db-1")] == "not_applicable"
        # a control not evaluated on a host is an empty cell, not a pass
        assert parser.cells[(lang, "PDIC-BAK-004", "db-1")] == ""
    assert len(parser.cells) == 2 * 5 * 3  # languages x controls x hosts
    assert "Ma trận kiểm soát \u00d7 máy chủ" in html and "Control \u00d7 host matrix" in html
    assert "$ /usr/sbin/sshd -T   # exit 0" in html
    assert "Trưởng phòng" in html and "2030-01-01" in html  # who and until
    assert "old exception" in html  # expired waivers are listed
    assert "w.yml: waivers[2].control: bad" in html
    assert 'id="centre-score-vi">63.4 %<' in html


def test_html_escapes_evidence() -> None:
    bad = Result(C["PDIC-SSH-001"], "db-1", "fail", "<script>", (Evidence("x", 1, "<b>"),))
    html = to_html([bad], generated=GENERATED)
    assert html.count("<script>") == 1  # the language switch only
    assert "&lt;script&gt;" in html and "&lt;b&gt;" in html
