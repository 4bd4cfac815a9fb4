"""pdic.pki.revoke: argument checks before anything runs, and what the CA host's answer means."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pdic.errors import CertError
from pdic.inventory import Host, load_inventory
from pdic.pki import revoke as rv

REPO = Path(__file__).resolve().parents[3]
INV = load_inventory(REPO / "inventory" / "lab")


class _CAHost:
    def __init__(self, rc: int, stdout: str = "", stderr: str = "") -> None:
        self.answer = SimpleNamespace(rc=rc, stdout=stdout, stderr=stderr)
        self.calls: list[tuple[str, ...]] = []

    def run(self, command: str, *args: str) -> Any:
        if command == "true":  # the probe before the revocation
            return SimpleNamespace(rc=0, stdout="", stderr="")
        self.calls.append(args)
        return self.answer


def _connect(ca: _CAHost) -> Any:
    def connect(host: Host) -> _CAHost:
        assert host.name == "ca-1"
        return ca

    return connect


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("keyCompromise", "keyCompromise"),
        ("key-compromise", "keyCompromise"),
        ("KEY_COMPROMISE", "keyCompromise"),
        ("superseded", "superseded"),
        ("cessation-of-operation", "cessationOfOperation"),
        ("ca-compromise", "CACompromise"),
    ],
)
def test_reasons_in_any_spelling(text: str, expected: str) -> None:
    assert rv.parse_reason(text) == expected


@pytest.mark.parametrize(
    ("target", "reason", "message"),
    [
        ("portal-1", "superseded", "expected HOST:NAME"),
        (":host", "superseded", "expected HOST:NAME"),
        ("nohost:host", "superseded", "no host 'nohost'"),
        ("portal-1:a b", "superseded", "may hold only"),
        ("portal-1:host", "removeFromCRL", "--reason: 'removeFromCRL' is not one of"),
    ],
)
def test_bad_input_is_refused_before_connecting(target: str, reason: str, message: str) -> None:
    ca = _CAHost(0, "revoked 0A")
    with pytest.raises(CertError, match=message):
        rv.revoke(INV, target, reason, _connect(ca))
    assert ca.calls == []


def test_revoke_runs_on_the_ca_host_with_the_canonical_reason() -> None:
    ca = _CAHost(0, "revoked 4F34A0A5BB038568DEC090D2976DD87D96443470\n")
    done = rv.revoke(INV, "mon-1:host", "key-compromise", _connect(ca))
    assert ca.calls == [("/usr/local/sbin/pdic-ca-revoke", "mon-1", "host", "keyCompromise")]
    assert done == rv.Revocation(
        "mon-1", "host", "4F34A0A5BB038568DEC090D2976DD87D96443470", "keyCompromise", "ca-1", False
    )


def test_already_revoked_is_not_an_error() -> None:
    done = rv.revoke(INV, "mon-1:host", "superseded", _connect(_CAHost(0, "already-revoked 0A")))
    assert done.already and done.serial == "0A"


@pytest.mark.parametrize(
    ("rc", "stderr", "message"),
    [
        (
            3,
            "pdic-ca-revoke: this CA issued no certificate",
            "the CA on ca-1 issued no certificate",
        ),
        (127, "sh: pdic-ca-revoke: not found", "is missing: deploy the pki play first"),
        (
            1,
            "openssl: database locked",
            "revocation of mon-1:host failed: openssl: database locked",
        ),
    ],
)
def test_ca_refusals_become_one_line(rc: int, stderr: str, message: str) -> None:
    with pytest.raises(CertError, match=message):
        rv.revoke(INV, "mon-1:host", "superseded", _connect(_CAHost(rc, "", stderr)))


def test_unreachable_ca_host() -> None:
    def connect(host: Host) -> Any:
        raise OSError("No route to host")

    with pytest.raises(CertError, match=r"ca-1: cannot reach the CA host \(OSError: No route"):
        rv.revoke(INV, "mon-1:host", "superseded", connect)


class _Silent(_CAHost):
    """A CA host that answers the probe, then stops answering once the revocation is sent."""

    def run(self, command: str, *args: str) -> Any:
        if command == "true":
            return SimpleNamespace(rc=0, stdout="", stderr="")
        self.calls.append(args)
        raise TimeoutError("ca-1: no answer within 15 s")


def test_a_ca_host_silent_after_the_revocation_was_sent_says_the_state_is_unknown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = _Silent(0)
    with pytest.raises(rv.RevokeUncertain) as err:
        rv.revoke(INV, "mon-1:host", "superseded", _connect(ca))
    assert ca.calls == [(rv.REVOKE_COMMAND, "mon-1", "host", "superseded")]
    assert str(err.value).splitlines() == [
        "mon-1:host: ca-1 stopped answering once the revocation was sent (TimeoutError: ca-1: "
        "no answer within 15 s): the CA's database may or may not list it as revoked, and the "
        "CRL may not be published",
        "to finish: `pdic cert revoke mon-1:host --reason superseded` once ca-1 answers (it "
        "revokes it, or says it already is, and publishes the CRL)",
    ]
    from pdic.cli import main

    monkeypatch.setattr("pdic.connect.testinfra_host", _connect(_Silent(0)))
    assert main(["cert", "revoke", "mon-1:host", "--reason", "superseded"]) == 1
    err_lines = capsys.readouterr().err.splitlines()
    assert len(err_lines) == 2 and err_lines[1].startswith("pdic: error: to finish: `pdic cert")


def test_revoked_but_not_published_says_so_and_how_to_finish(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CA's database holds the revocation; the CRL step failed after it (exit code 4).
    ca = _CAHost(4, "revoked 0A\n", "pdic-ca-revoke: the CRL could not be published")
    with pytest.raises(rv.RevokeIncomplete) as err:
        rv.revoke(INV, "mon-1:host", "key-compromise", _connect(ca))
    assert str(err.value).splitlines() == [
        "mon-1:host: serial 0A is revoked in the CA's database on ca-1, but the new CRL was not "
        "published (pdic-ca-revoke: the CRL could not be published): relying parties still "
        "accept it",
        "to finish: `pdic cert revoke mon-1:host --reason keyCompromise` again (it publishes "
        "the CRL)",
    ]
    from pdic.cli import main

    monkeypatch.setattr("pdic.connect.testinfra_host", _connect(ca))
    assert main(["cert", "revoke", "mon-1:host", "--reason", "keyCompromise"]) == 1
    assert capsys.readouterr().err.startswith("pdic: error: mon-1:host: serial 0A is revoked")
