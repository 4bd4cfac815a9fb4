"""A fake testinfra host that answers with recorded command outputs, and fixture paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pdic.compliance.checks.base import render
from pdic.compliance.checks.ssh import SSHD_MATCH_ROOT, SSHD_T, SSHD_T_ROOT_FROM

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[3]


@dataclass
class Reply:
    rc: int = 0
    stdout: str = ""
    stderr: str = ""


class FakeHost:
    """``run(command, *args)`` looks up the rendered command line in ``replies``.

    A reply is ``(rc, stdout)`` / ``(rc, stdout, stderr)`` or a plain stdout string (rc 0).
    A command with no recorded reply fails the test: a check ran something unexpected.
    """

    def __init__(self, replies: dict[str, object]) -> None:
        self.replies = replies
        self.commands: list[str] = []

    def run(self, command: str, *args: str) -> Reply:
        line = render(command, *args)
        self.commands.append(line)
        if line not in self.replies:
            raise AssertionError(f"unexpected command: {line}")
        reply = self.replies[line]
        if isinstance(reply, str):
            return Reply(0, reply)
        assert isinstance(reply, tuple)
        return Reply(*reply)


def fixture_text(rel: str) -> str:
    return (FIXTURES / rel).read_text(encoding="utf-8")


NO_MATCH = (1, "")
"""grep's reply when the sshd files have no Match block and no PermitRootLogin line."""
OUTSIDE = "192.0.2.1"
"""The address the root login check asks sshd about when it is outside allowed_from."""


def root_from(address: str = OUTSIDE) -> str:
    """The command line that asks sshd for root's settings from ``address``."""
    return render(SSHD_T_ROOT_FROM, address, address)


def sshd_replies(
    text: str, match: object = NO_MATCH, outside: str | None = None
) -> dict[str, object]:
    """Replies of a host whose ``sshd -T`` prints ``text``.

    ``outside`` is what ``sshd -T -C`` prints for root from an outside address; by default the
    same text, which is what sshd prints when no Match block applies (checked when recording).
    """
    return {SSHD_T: text, SSHD_MATCH_ROOT: match, root_from(): text if outside is None else outside}
