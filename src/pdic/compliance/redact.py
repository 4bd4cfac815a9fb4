"""Secrets out of audit evidence: the value of any setting whose name looks secret is replaced.

A check keeps excerpts of what commands printed on a host as evidence, and reports carry that
evidence to auditors (HTML, JSON, JUnit) and beyond; `pdic drift` prints the diffs of files a
deploy would change. Whatever a host printed, a setting whose key holds ``pass``, ``secret``,
``key`` or ``token`` (any case: ``repo1-cipher-pass``, ``PGPASSWORD``, ``client_secret``,
``api-key``, ``auth_token``) has its value replaced with ``<redacted>`` in each of the forms
configuration files and tools print::

    key = value     key=value     key: value     "key": "value"     'key': 'value'

An unquoted value runs to the end of the line (``key = two words``); after a quoted key (JSON,
YAML flow) it stops at ``,``, ``}`` or ``]`` so the rest of the line stays readable. A key is a
whole word: ``/etc/ssh/ssh_host_ed25519_key: 600`` (a path) is left alone, and so is a line
without ``=`` or ``:`` (``HostKey /etc/ssh/...``, ``PASS_MAX_DAYS 90``). Redacting a value that
is not secret costs an auditor a detail; leaving a secret in a report costs the secret.
A line of a unified diff is redacted like any other (``-password = old``, ``+api_key: new``:
the mark is read as part of the key, which still holds ``pass`` or ``key``).

It does not recognise secrets by their shape (a bare token on a line of its own stays): checks
must not read files for their secret values in the first place (PDIC-BAK-001 reads only the
section names of pgbackrest.conf).
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"

_KEY = r"[A-Za-z0-9_.-]*(?:pass|secret|key|token)[A-Za-z0-9_.-]*"
_SETTING = re.compile(
    r"(?<![\w/.-])"  # the key starts a word (not the end of a path or of a longer name)
    r"(?P<quote>[\"'])?(?P<key>" + _KEY + r")(?(quote)(?P=quote))"
    r"[ \t]*[:=][ \t]*"
    r"(?P<value>\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|(?(quote)[^,}\]\n]*|[^\n]*))",
    re.IGNORECASE,
)


def _replace(match: re.Match[str]) -> str:
    value = match["value"]
    if not value.strip() or value.strip() == REDACTED:
        return match[0]  # `key:` opening a block, or already redacted
    start = match.start("value") - match.start()
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match[0][:start]}{quote}{REDACTED}{quote}"


def redact(text: str) -> str:
    """``text`` with the value of every secret-looking setting replaced by ``<redacted>``."""
    return _SETTING.sub(_replace, text)
