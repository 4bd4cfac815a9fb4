"""evaluate(): the container rule, parameters by group, combining several checks."""

from __future__ import annotations

from pdic.compliance.catalogue import load_catalogue
from pdic.compliance.checks import Evidence
from pdic.compliance.evaluate import detect_container, evaluate

from .fakes import REPO, FakeHost, fixture_text, sshd_replies

C = load_catalogue(REPO / "compliance").controls
DETECT = "systemd-detect-virt --container"


def test_detect_container() -> None:
    name, evidence = detect_container(FakeHost({DETECT: "systemd-nspawn\n"}))
    assert name == "systemd-nspawn" and evidence.command == DETECT
    assert detect_container(FakeHost({DETECT: (1, "none\n")}))[0] is None


def test_auditd_is_not_applicable_in_a_container_and_says_why() -> None:
    host = FakeHost({DETECT: "systemd-nspawn\n"})
    outcome = evaluate(C["PDIC-LOG-006"], host, ["db"], detect_container(host))
    assert outcome.status == "not_applicable"
    assert outcome.message.startswith("not applicable: container (systemd-nspawn): auditd")
    assert outcome.evidence[0].command == DETECT
    assert host.commands == [DETECT]  # the check itself did not run


def test_auditd_runs_on_a_vm() -> None:
    host = FakeHost(
        {DETECT: (1, "none\n"), "systemctl is-active auditd.service": (3, "inactive\n")}
    )
    outcome = evaluate(C["PDIC-LOG-006"], host, ["db"], detect_container(host))
    assert outcome.status == "fail" and outcome.message == "auditd is inactive"


def test_container_applicable_controls_run_in_containers() -> None:
    host = FakeHost(sshd_replies(fixture_text("sshd-T/debian12-hardened.txt")))
    container = ("systemd-nspawn", Evidence(DETECT, 0, "systemd-nspawn"))
    outcome = evaluate(C["PDIC-SSH-001"], host, ["portal"], container)
    assert outcome.status == "pass"


def test_worst_status_of_several_checks_wins() -> None:
    host = FakeHost(
        {
            "runuser -u postgres -- psql -XAtq -F ' ' -c 'SHOW ssl'": "on\n",
            "runuser -u postgres -- psql -XAtq -F ' ' -c 'SELECT line_number, type, auth_method "
            "FROM pg_hba_file_rules ORDER BY line_number'": (
                "1 local peer\n2 hostssl scram-sha-256\n3 host scram-sha-256\n"
            ),
        }
    )
    outcome = evaluate(C["PDIC-SVC-008"], host, ["db"])
    assert outcome.status == "fail"
    assert outcome.message == "network entries without TLS: ['line 3: host']"
    assert len(outcome.evidence) == 2


def test_params_by_group_reach_the_check() -> None:
    host = FakeHost(
        {
            "ss -Hlntu": (
                "tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\n"
                "tcp LISTEN 0 511 0.0.0.0:443 0.0.0.0:*\n"
                "tcp LISTEN 0 100 127.0.0.1:25 0.0.0.0:*\n"
            )
        }
    )
    assert evaluate(C["PDIC-NET-003"], host, ["portal"]).status == "pass"
    outcome = evaluate(C["PDIC-NET-003"], host, ["db"])
    assert outcome.status == "fail" and "tcp 0.0.0.0:443" in outcome.message


def test_a_check_that_raises_is_an_error_not_a_crash() -> None:
    host = FakeHost({})  # every command is unexpected: the fake raises
    outcome = evaluate(C["PDIC-SSH-001"], host, ["portal"])
    assert outcome.status == "error"
    assert outcome.message.startswith("ssh_root_login_disabled: AssertionError: unexpected command")


def test_inventory_variables_reach_the_check_the_catalogue_names_them_for() -> None:
    # PDIC-SSH-001's allowed_from is {inventory: ssh_hardening_root_login_from}.
    match = (
        "PermitRootLogin no\n"
        "Match User root Address 10.251.0.1/32\n"
        "    PermitRootLogin prohibit-password\n"
    )
    role = fixture_text("sshd-T/pdic-ssh-hardening.txt")
    lab = {"ssh_hardening_root_login_from": ["10.251.0.1/32"], "pdic_env": "lab"}
    outcome = evaluate(C["PDIC-SSH-001"], FakeHost(sshd_replies(role, match)), ["hcc"], None, lab)
    assert outcome.status == "pass", outcome.message
    assert "from 10.251.0.1/32 (allowed_from)" in outcome.message
    for production in ({}, {"ssh_hardening_root_login_from": []}):
        host = FakeHost(sshd_replies(role, match))
        assert evaluate(C["PDIC-SSH-001"], host, ["hcc"], None, production).status == "fail"


def test_a_bad_inventory_value_is_an_error_naming_it() -> None:
    host = FakeHost(sshd_replies(fixture_text("sshd-T/pdic-ssh-hardening.txt")))
    bad = {"ssh_hardening_root_login_from": "10.251.0.1/32"}
    outcome = evaluate(C["PDIC-SSH-001"], host, ["hcc"], None, bad)
    assert outcome.status == "error"
    assert outcome.message == (
        "ssh_root_login_disabled: ValueError: allowed_from must be a list of addresses, "
        "not '10.251.0.1/32'"
    )
