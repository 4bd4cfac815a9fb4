"""The pdic_apt action: when dpkg's answer is enough, and when apt must be asked.

A wrong "nothing to do" would leave a package missing, so every doubt must go to apt. The
dpkg-query outputs below are what Debian 12's dpkg prints for ``${Package} ${db:Status-Abbrev}``.
"""

from __future__ import annotations

from typing import Any

import pytest

from pdic.ansible_plugins.action.pdic_apt import names_of, nothing_to_do

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
