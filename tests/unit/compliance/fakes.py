"""A fake testinfra host that answers with recorded command outputs, and fixture paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pdic.compliance.checks.base import render

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
