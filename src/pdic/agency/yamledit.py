"""Inventory files edited in place: list items appended, removed or changed, the rest kept.

A file is read with ruamel.yaml's round trip and written back only if, untouched, it comes back
byte for byte (an indentation is tried until one does); otherwise it is refused rather than
reformatted. Edits keep comments, key order and quoting. What follows a list item (blank lines,
the comment that opens the next section) is held by ruamel.yaml on that item's last scalar: it
is moved so that it still follows the list when an item is appended after it or when the item
holding it is removed. Appending an item and removing it again gives back the file as it was.

It knows nothing of agencies: :mod:`pdic.agency.add` and :mod:`pdic.agency.retire` say what
to edit and run the inventory's rules over the result (:func:`problems_with`) before anything
is written.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pdic.errors import AgencyError
from pdic.files import write_atomically
from pdic.inventory.loader import KeyPath

# Indentations tried, in order, to write a file back as it was (mapping, sequence, offset).
INDENTS = ((2, 4, 2), (2, 2, 0), (4, 6, 4), (4, 4, 0))


def diff(texts: Mapping[str, tuple[str, str]]) -> str:
    """A unified diff per file (``{rel: (old, new)}``), paths relative to the inventory."""
    import difflib

    out: list[str] = []
    for rel, (old, new) in texts.items():
        if old != new:
            out += difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"
            )
    return "".join(out)


def problems_with(root: Path, texts: Mapping[str, tuple[str, str]]) -> list[str]:
    """``pdic inventory check``'s lines for the inventory at ``root`` with the new ``texts``
    (checked in a temporary copy; ``root`` is not touched)."""
    import shutil
    import tempfile

    from pdic.inventory.check import problems
    from pdic.inventory.loader import read_inventory

    with tempfile.TemporaryDirectory(prefix="pdic-agency-") as tmp:
        copy = Path(tmp) / "inventory"
        shutil.copytree(root, copy, symlinks=True)
        for rel, (_, new) in texts.items():
            (copy / rel).write_text(new, encoding="utf-8")
        return problems(read_inventory(copy))


def write(root: Path, texts: Mapping[str, tuple[str, str]]) -> list[Path]:
    """Each changed file of ``texts`` replaced atomically, its mode kept; the paths written.
    Files are written one after the other, not as one transaction."""
    written = []
    for rel, (old, new) in texts.items():
        if old == new:
            continue
        path = root / rel
        write_atomically(path, new.encode("utf-8"), path.stat().st_mode & 0o7777)
        written.append(path)
    return written


class Document:
    """One inventory file read with ruamel.yaml's round trip, to edit its lists."""

    def __init__(self, root: Path, rel: str) -> None:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        self.rel = rel
        self.text = (root / rel).read_text(encoding="utf-8")
        for mapping, sequence, offset in INDENTS:
            rt = YAML()
            rt.preserve_quotes = True
            rt.width = 4096
            rt.indent(mapping=mapping, sequence=sequence, offset=offset)
            rt.explicit_start = self.text.lstrip().startswith("---")
            try:
                doc = rt.load(self.text)
            except YAMLError as exc:
                raise AgencyError(f"{rel}: (file): cannot be read back: {exc}") from None
            self.yaml, self.doc = rt, doc
            if self.dump() == self.text:
                return
        raise AgencyError(
            f"{rel}: (file): would not be written back as it is (its formatting would change); "
            "edit it by hand"
        )

    def dump(self) -> str:
        out = io.StringIO()
        self.yaml.dump(self.doc, out)
        return out.getvalue()

    def sequence(self, prefix: KeyPath, key: str, create: bool = False) -> Any:
        """The list ``key`` under ``prefix`` (made empty when ``create`` and it is missing)."""
        from ruamel.yaml.comments import CommentedSeq

        node = self.doc
        for part in prefix:
            node = node[part]
        if create and (key not in node or node[key] is None):
            node[key] = CommentedSeq()
        seq = node.get(key)
        if not isinstance(seq, CommentedSeq):
            raise AgencyError(f"{self.rel}: {key}: is not a list")
        return seq

    def append(
        self, prefix: KeyPath, key: str, item: Mapping[str, Any], quoted: tuple[str, ...] = ()
    ) -> int:
        """Append ``item`` to the list ``key`` under ``prefix``; its index in the list. The
        texts of the fields in ``quoted`` are written in double quotes, lists in block style."""
        seq = self.sequence(prefix, key, create=True)
        new = _node(item, quoted)
        if seq:
            _give(new, _take(seq[-1]))
        seq.append(new)
        return len(seq) - 1

    def remove(self, prefix: KeyPath, key: str, index: int) -> None:
        """Remove item ``index`` of the list ``key``; what followed it stays where it was."""
        seq = self.sequence(prefix, key)
        rest = _take(seq[index])
        if index > 0:
            _give(seq[index - 1], rest)
        del seq[index]

    def set(self, prefix: KeyPath, key: str, index: int, field: str, value: Any) -> None:
        """Set ``field`` of item ``index`` of the list ``key`` (a plain scalar)."""
        self.sequence(prefix, key)[index][field] = value


def _node(value: Any, quoted: tuple[str, ...] = (), name: str = "") -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, Mapping):
        new = CommentedMap()
        for key, item in value.items():
            new[key] = _node(item, quoted, str(key))
        return new
    if isinstance(value, list | tuple):
        return CommentedSeq(_node(item) for item in value)
    if isinstance(value, str) and name in quoted:
        return DoubleQuotedScalarString(value)
    return value


def _tail(node: Any) -> tuple[Any, Any, int] | None:
    """Where ruamel.yaml keeps the comment after ``node``: the deepest last scalar's
    (collection, key or index, slot)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    while True:
        if isinstance(node, CommentedMap) and node:
            key: Any = list(node)[-1]
            slot = 2
        elif isinstance(node, CommentedSeq) and node:
            key, slot = len(node) - 1, 0
        else:
            return None
        value = node[key]
        if isinstance(value, CommentedMap | CommentedSeq) and value:
            node = value
            continue
        return node, key, slot


def _take(node: Any) -> str:
    """Detach from ``node`` what follows its own line (blank lines, the next section's
    comment) and return it ("" when nothing does); an end-of-line comment stays."""
    from ruamel.yaml.tokens import CommentToken

    where = _tail(node)
    if where is None:
        return ""
    holder, key, slot = where
    entry = holder.ca.items.get(key)
    token = entry[slot] if entry and len(entry) > slot else None
    if not isinstance(token, CommentToken) or "\n" not in token.value:
        return ""
    own, _, rest = token.value.partition("\n")
    if not rest:
        return ""
    entry[slot] = CommentToken(own + "\n", token.start_mark, None) if own.strip() else None
    return rest


def _give(node: Any, rest: str) -> None:
    """Put ``rest`` (what :func:`_take` detached) after ``node``."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    where = _tail(node) if rest else None
    if where is None:
        return
    holder, key, slot = where
    entry = holder.ca.items.setdefault(key, [None, None, None, None])
    token = entry[slot]
    if isinstance(token, CommentToken):
        entry[slot] = CommentToken(token.value + rest, token.start_mark, None)
    else:
        entry[slot] = CommentToken("\n" + rest, CommentMark(0), None)
