"""Ansible filters for SSH access, from :mod:`pdic.sshaccess` (the same code the audit runs):

- ``rules | pdic_ssh_control_networks(port)``: the networks the firewall rules admit SSH from,
  less 0.0.0.0/0 and ::/0 (the control machines' networks);
- ``address | pdic_address_in(networks)``: whether an address lies in one of the networks;
- ``existing | pdic_users_oath(admins)``: the text of pam_oath's users file for the
  administrators (name and hex secret each), keeping what pam_oath recorded on unchanged lines.

pdic is imported from the source tree the filter sits in (``src/``), like pdic's lookups.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_SRC = str(Path(__file__).resolve().parents[3])
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

from pdic import sshaccess  # noqa: E402


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "pdic_ssh_control_networks": sshaccess.control_networks,
            "pdic_address_in": sshaccess.address_in,
            "pdic_users_oath": sshaccess.users_oath,
        }
