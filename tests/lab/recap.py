"""Parse the recap lines `pdic bootstrap` and `pdic deploy` print when not on a terminal."""

from __future__ import annotations

import re

LINE = re.compile(
    r"^(?P<host>\S+) ok=(?P<ok>\d+) changed=(?P<changed>\d+) failed=(?P<failed>\d+) "
    r"unreachable=(?P<unreachable>\d+)$",
    re.M,
)


def recap(text: str) -> dict[str, dict[str, int]]:
    """host -> {ok, changed, failed, unreachable}, from the last recap in the output."""
    tail = text[text.rfind(" recap:") :] if " recap:" in text else ""
    return {
        m["host"]: {k: int(m[k]) for k in ("ok", "changed", "failed", "unreachable")}
        for m in LINE.finditer(tail)
    }
