"""Helpers for the application tests: the reference application's source and a WSGI client."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
REFAPP = REPO / "apps" / "refapp"


@pytest.fixture(scope="session")
def refapp() -> Iterator[ModuleType]:
    """The reference application's module ``pdic_refapp.app``, imported from apps/refapp."""
    sys.path.insert(0, str(REFAPP))
    try:
        from pdic_refapp import app

        yield app
    finally:
        sys.path.remove(str(REFAPP))


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeDatabase:
    """Stands for psycopg2: records the connection settings, answers one row or fails."""

    name: str = "eoffice"
    fail_connect: str | None = None
    fail_query: str | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    closed: int = 0

    def connect(self, **kwargs: Any) -> FakeDatabase:
        self.calls.append(kwargs)
        if self.fail_connect:
            raise OSError(self.fail_connect)
        return self

    def cursor(self) -> FakeDatabase:
        return self

    def execute(self, query: str) -> None:
        if self.fail_query:
            raise RuntimeError(self.fail_query)
        assert query == "SELECT current_database()"

    def fetchone(self) -> tuple[str]:
        return (self.name,)

    def close(self) -> None:
        self.closed += 1


def call(app: Any, method: str, path: str, body: bytes = b"", **headers: str) -> Answer:
    """Call the WSGI callable ``app`` as a server would."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        **{f"HTTP_{k.upper()}": v for k, v in headers.items()},
    }
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"] = int(status.split()[0])
        seen["headers"] = dict(response_headers)

    chunks = b"".join(app(environ, start_response))
    return Answer(seen["status"], seen["headers"], chunks)
