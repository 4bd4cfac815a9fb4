"""How a run of `pdic` ends: an exit code and, when something went wrong, one line on stderr.

=====  ===========================================================================================
code   meaning
=====  ===========================================================================================
0      done
1      the command's own verdict (a host failed, a deploy failed), a host that cannot be reached
       (:class:`~pdic.errors.HostUnreachable`: ``pdic: error: HOST: ...``), an aborted prompt, or
       an error pdic did not foresee
2      bad input: usage errors of the command line (an unknown option, a value of the wrong
       type) and pdic's domain errors (:class:`~pdic.errors.PdicError`), before anything changed
130    interrupted (Ctrl-C)
=====  ===========================================================================================

Every message is ``pdic: error: ...`` (one line per problem for a domain error that lists
several, such as an inventory check). An error pdic did not foresee is one line naming its
type; its traceback is printed only when ``PDIC_DEBUG`` is set (to anything but ``0`` or empty).

It decides nothing about what is bad input (the commands and the package's functions do) and
never hides an interrupt: Ctrl-C ends the run with 130 and one line.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer

from pdic.errors import HostUnreachable, PdicError

DEBUG_ENV = "PDIC_DEBUG"
BAD_INPUT = 2
FAILED = 1
INTERRUPTED = 130

# The command line library's own errors: the base class of its BadParameter (typer vendors its
# own copy of click in recent versions, older ones re-export click's).
_CLI_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


def run(command: Any, argv: Sequence[str] | None) -> int:
    """Run ``command`` (a click/Typer command) on ``argv``; the process exit code."""
    try:
        return _exit_code(command.main(args=argv, prog_name="pdic", standalone_mode=False))
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return _exit_code(exc.code)
        say(str(exc.code))
        return FAILED
    except KeyboardInterrupt:
        return _interrupted()
    except typer.Abort:
        say("Aborted!")
        return FAILED
    except _CLI_ERROR as exc:
        return _usage_error(exc)
    except PdicError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            say(f"pdic: error: {line}")
        return BAD_INPUT
    except HostUnreachable as exc:
        say(f"pdic: error: {one_line(str(exc))}")
        return FAILED
    except Exception as exc:  # the last resort: never a traceback unless asked for
        if debugging():
            traceback.print_exc()
        hint = "" if debugging() else f" (pdic could not handle this; {DEBUG_ENV}=1 shows where)"
        say(f"pdic: error: {describe(exc)}{hint}")
        return FAILED


def _exit_code(value: object) -> int:
    """The exit code of a command's return value or of an exit the library asked for."""
    code = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return _interrupted() if code == INTERRUPTED else code


def _interrupted() -> int:
    # Typer turns Ctrl-C into a silent exit 130; either way, one line says what happened.
    say("pdic: interrupted")
    return INTERRUPTED


def _usage_error(exc: Exception) -> int:
    """One line for an error of the command line library; its exit code (2 for usage)."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        return BAD_INPUT  # the group's help is already printed
    code = getattr(exc, "exit_code", BAD_INPUT)
    param = getattr(exc, "param", None)
    ctx = getattr(exc, "ctx", None)
    message = str(getattr(exc, "message", "") or exc)
    message = message.removeprefix("Value error, ")
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")] if param else []
    if opts and type(exc).__name__ == "BadParameter":
        say(f"pdic: error: {opts[0]}: {one_line(message)}")
        return int(code)
    if hasattr(exc, "format_message"):
        message = exc.format_message()
    where = ""
    path = str(getattr(ctx, "command_path", "") or "")
    if path:
        where = f"{path.removeprefix('pdic').strip() or 'pdic'}: "
        message = f"{one_line(message).rstrip('.')} (see {path} --help)"
    say(f"pdic: error: {where}{one_line(message).rstrip('.')}")
    return int(code)


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, on one line."""
    text = one_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def one_line(text: str) -> str:
    """``text`` with its lines and runs of white space joined by single spaces."""
    return " ".join(text.split())


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
