"""The pdic_apt action: when dpkg's answer is enough, and when apt must be asked.

A wrong "nothing to do" would leave a package missing, so every doubt must go to apt. The
dpkg-query outputs below are what Debian 12's dpkg prints for ``${Package} ${db:Status-Abbrev}``;
the lists query's are ``date +%s`` and ``stat -c %Y`` of apt's update stamp. The action's run()
is driven with those outputs and recorded apt results in place of a host.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from ansible.plugins.action import ActionBase

from pdic.ansible_plugins.action.pdic_apt import (
    DEFAULT_CACHE_VALID_TIME,
    LISTS_QUERY,
    ActionModule,
    installs,
    lists_age,
    names_of,
    nothing_to_do,
    refresh_args,
    refresh_lock_path,
)

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = "nginx ii \nssl-cert ii \n"


@pytest.mark.parametrize(
    ("args", "names"),
    [
        ({"name": ["nginx", "ssl-cert"], "state": "present"}, ["nginx", "ssl-cert"]),
        ({"name": "nginx,ssl-cert"}, ["nginx", "ssl-cert"]),
        ({"name": ["libc6:amd64"]}, ["libc6:amd64"]),
        ({"name": ["telnet"], "state": "absent", "purge": True}, ["telnet"]),
        ({"name": ["nginx=1.22.1-9"]}, None),
        ({"name": ["nginx*"]}, None),
        ({"name": ["nginx"], "state": "latest"}, None),
        ({"name": ["nginx"], "update_cache": True}, None),
        ({"deb": "/tmp/x.deb"}, None),
        ({"upgrade": "dist"}, None),
        ({"name": []}, None),
    ],
)
def test_only_plain_names_and_present_or_absent_are_looked_up(
    args: dict[str, Any], names: list[str] | None
) -> None:
    assert names_of(args) == names


@pytest.mark.parametrize(
    ("args", "rc", "stdout", "expected"),
    [
        ({"state": "present"}, 0, INSTALLED, True),
        ({"state": "present"}, 1, "nginx ii \n", False),  # ssl-cert unknown to dpkg
        ({"state": "present"}, 0, "nginx ii \nssl-cert rc \n", False),  # removed, config left
        ({"state": "present"}, 0, "nginx iU \nssl-cert ii \n", False),  # unpacked only
        ({"state": "present"}, 0, "nginx iiR\nssl-cert ii \n", False),  # reinstall required
        ({"state": "present"}, 0, "nginx hi \nssl-cert ii \n", True),  # held, installed
        ({"state": "absent"}, 1, "", True),
        ({"state": "absent"}, 0, "nginx un \nssl-cert rc \n", True),
        ({"state": "absent", "purge": True}, 0, "nginx un \nssl-cert rc \n", False),
        ({"state": "absent"}, 0, "nginx ii \n", False),
        ({"state": "absent"}, 2, "", False),  # dpkg-query itself failed
    ],
)
def test_nothing_to_do_only_when_dpkg_shows_the_wanted_state(
    args: dict[str, Any], rc: int, stdout: str, expected: bool
) -> None:
    assert nothing_to_do(args, ["nginx", "ssl-cert"], rc, stdout) is expected


# The package lists: refreshed (one host at a time) only before apt installs something.

NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"name": ["nginx"], "state": "present"}, True),
        ({"name": "nginx"}, True),
        ({"name": ["nginx"], "state": "latest"}, True),
        ({"deb": "/tmp/x.deb"}, True),
        ({"upgrade": "dist"}, True),
        ({"name": ["telnet"], "state": "absent", "purge": True}, False),
        ({"name": ["nginx"], "update_cache": True}, False),  # apt's own refresh
        ({"autoremove": True}, False),
        ({"upgrade": "no"}, False),
    ],
)
def test_only_a_call_that_may_install_needs_fresh_lists(
    args: dict[str, Any], expected: bool
) -> None:
    assert installs(args) is expected


@pytest.mark.parametrize(
    ("rc", "stdout", "age"),
    [
        (0, f"{NOW}\n{NOW - 600}\n", 600),
        (1, f"{NOW}\n", None),  # no stamp: stat failed
        (0, "", None),
        (0, f"{NOW}\nstat: garbage\n", None),
    ],
)
def test_the_age_of_the_lists_comes_from_apt_s_stamp(rc: int, stdout: str, age: int | None) -> None:
    assert lists_age(rc, stdout) == age


@pytest.mark.parametrize(
    ("age", "valid_time", "expected"),
    [
        (600, 3600, None),
        (3600, 3600, None),
        (3601, 3600, {"update_cache": True, "cache_valid_time": 3600}),
        (60, 30, {"update_cache": True, "cache_valid_time": 30}),
        (None, 3600, {"update_cache": True, "cache_valid_time": 0}),  # no record: always
        (0, 0, {"update_cache": True, "cache_valid_time": 0}),  # 0: before every install
    ],
)
def test_lists_are_refreshed_only_when_older_than_cache_valid_time(
    age: int | None, valid_time: int, expected: dict[str, Any] | None
) -> None:
    assert refresh_args(age, valid_time) == expected


class _Host:
    """What the action asks the host, answered from recorded outputs: dpkg-query's and the
    lists query's (``LISTS_QUERY``), and apt's results in the order the calls come."""

    def __init__(self, dpkg: tuple[int, str], lists: tuple[int, str], apt: list[dict[str, Any]]):
        self.dpkg, self.lists, self.apt = dpkg, lists, list(apt)
        self.commands: list[str] = []
        self.apt_calls: list[dict[str, Any]] = []
        self.locked_during_refresh: list[bool] = []

    def command(self, cmd: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.commands.append(cmd)
        rc, stdout = self.lists if cmd == LISTS_QUERY else self.dpkg
        return {"rc": rc, "stdout": stdout}

    def module(self, module_name: str, module_args: dict[str, Any], **kwargs: Any) -> Any:
        assert module_name == "ansible.builtin.apt"
        self.apt_calls.append(dict(module_args))
        if module_args.get("update_cache"):
            self.locked_during_refresh.append(_is_locked(refresh_lock_path()))
        return self.apt.pop(0)


def _is_locked(path: str) -> bool:
    """Whether another open file holds the lock on ``path`` (as another host's worker would)."""
    with open(path, "a", encoding="utf-8") as other:
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(other, fcntl.LOCK_UN)
        return False


def _run(monkeypatch: pytest.MonkeyPatch, args: dict[str, Any], host: _Host) -> dict[str, Any]:
    """The action's run() on ``args``, with the host answering as ``host`` says."""
    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    action = ActionModule.__new__(ActionModule)
    action._task = types.SimpleNamespace(args=args)
    action._low_level_execute_command = host.command
    action._execute_module = host.module
    result: dict[str, Any] = action.run(task_vars={})
    return result


INSTALLED_APT = {"changed": True, "cache_updated": False}
REFRESHED = {"changed": True, "cache_updated": True}
FRESH = (0, f"{NOW}\n{NOW - 600}\n")
STALE = (0, f"{NOW}\n{NOW - 7200}\n")
NO_STAMP = (1, f"{NOW}\n")
MISSING = (0, "nginx ii \nssl-cert un \n")
PACKAGES = {"name": ["nginx", "ssl-cert"], "state": "present", "install_recommends": False}


def test_nothing_to_install_asks_neither_the_lists_nor_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    host = _Host(dpkg=(0, INSTALLED), lists=STALE, apt=[])
    result = _run(monkeypatch, {**PACKAGES, "cache_valid_time": 600}, host)
    assert result == {"changed": False, "msg": "present: nginx, ssl-cert"}
    assert len(host.commands) == 1 and host.commands[0].startswith("dpkg-query ")
    assert host.apt_calls == []


def test_fresh_lists_are_not_refreshed_before_an_install(monkeypatch: pytest.MonkeyPatch) -> None:
    host = _Host(dpkg=MISSING, lists=FRESH, apt=[INSTALLED_APT])
    result = _run(monkeypatch, {**PACKAGES, "cache_valid_time": "3600"}, host)
    assert host.commands[1:] == [LISTS_QUERY]
    assert host.apt_calls == [PACKAGES]  # cache_valid_time is the action's, not apt's
    assert result == INSTALLED_APT


def test_stale_lists_are_refreshed_under_the_lock_then_the_packages_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = _Host(dpkg=MISSING, lists=STALE, apt=[REFRESHED, INSTALLED_APT])
    result = _run(monkeypatch, {**PACKAGES, "cache_valid_time": "3600"}, host)
    assert host.apt_calls == [{"update_cache": True, "cache_valid_time": 3600}, PACKAGES]
    assert host.locked_during_refresh == [True]
    assert not _is_locked(refresh_lock_path())  # released for the install and the next host
    assert result == {**INSTALLED_APT, "cache_updated": True}


def test_the_default_valid_time_is_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    host = _Host(dpkg=MISSING, lists=(0, f"{NOW}\n{NOW - 3599}\n"), apt=[INSTALLED_APT])
    _run(monkeypatch, PACKAGES, host)
    assert host.apt_calls == [PACKAGES]
    host = _Host(dpkg=MISSING, lists=(0, f"{NOW}\n{NOW - 3601}\n"), apt=[REFRESHED, INSTALLED_APT])
    _run(monkeypatch, PACKAGES, host)
    assert host.apt_calls[0] == {"update_cache": True, "cache_valid_time": DEFAULT_CACHE_VALID_TIME}


def test_without_a_stamp_the_lists_are_refreshed_whatever_apt_s_cache_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = _Host(dpkg=MISSING, lists=NO_STAMP, apt=[REFRESHED, INSTALLED_APT])
    _run(monkeypatch, {**PACKAGES, "cache_valid_time": 3600}, host)
    assert host.apt_calls[0] == {"update_cache": True, "cache_valid_time": 0}


def test_a_failed_refresh_fails_the_task_before_any_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failed = {"failed": True, "msg": "Failed to update apt cache after 5 retries: W:..."}
    host = _Host(dpkg=MISSING, lists=STALE, apt=[failed])
    result = _run(monkeypatch, PACKAGES, host)
    assert result == failed
    assert len(host.apt_calls) == 1


def test_a_removal_does_not_refresh_the_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    removed = {"changed": True}
    host = _Host(dpkg=(0, "telnet ii \n"), lists=STALE, apt=[removed])
    args = {"name": ["telnet"], "state": "absent", "purge": True}
    assert _run(monkeypatch, args, host) == removed
    assert LISTS_QUERY not in host.commands
    assert host.apt_calls == [args]


def test_a_task_that_updates_the_cache_itself_goes_to_apt_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = _Host(dpkg=(0, ""), lists=STALE, apt=[INSTALLED_APT])
    args = {"name": ["nginx"], "update_cache": True, "cache_valid_time": 60}
    _run(monkeypatch, args, host)
    assert host.commands == []
    assert host.apt_calls == [args]


@pytest.mark.parametrize("value", ["an hour", -1, None])
def test_a_bad_cache_valid_time_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: Any
) -> None:
    host = _Host(dpkg=MISSING, lists=STALE, apt=[])
    result = _run(monkeypatch, {**PACKAGES, "cache_valid_time": value}, host)
    assert result["failed"] is True
    assert result["msg"].startswith("pdic_apt: cache_valid_time must be a number of seconds >= 0")
    assert host.commands == [] and host.apt_calls == []


def test_ansible_runs_the_action_with_its_own_option(tmp_path: Path) -> None:
    """Through ansible-playbook on the controller: an installed package is "ok" without apt
    (cache_valid_time taken as the action's option), and a bad cache_valid_time fails."""
    if shutil.which("dpkg-query") is None:
        pytest.skip("no dpkg on this machine")
    playbook = tmp_path / "apt.yml"
    playbook.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - pdic_apt: {name: [dpkg], state: present, cache_valid_time: '{{ valid }}'}\n"
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_CACHE_PLUGIN": "memory",
    }
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,"]
    command += [str(playbook), "-e", f"ansible_python_interpreter={sys.executable}"]
    ok = subprocess.run(
        [*command, "-e", "valid=60"], env=env, capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok=1" in ok.stdout and "changed=0" in ok.stdout
    bad = subprocess.run(
        [*command, "-e", "valid=soon"], env=env, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode != 0
    assert "pdic_apt: cache_valid_time must be a number of seconds >= 0, got 'soon'" in bad.stdout
