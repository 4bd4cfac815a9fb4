"""The clamav role's files, rendered as playbooks/antivirus.yml configures the role, say what the
design asks, and clamconf reads them (through the role's own validate, ``pdic-clamav
config-check``).

Each file is rendered on the controller by the role's templates after its preflight, for the
lab's setting (``clamav_signatures: local``) and production's (freshclam, with and without the
centre's mirror). clamconf comes from ``PDIC_CLAMAV_ROOT``, else ``/``, else the copy
scripts/setup unpacks under ``.venv/clamav``; without it those cases are skipped (an error under
``CI``). The scanned directories each lab host gets come from antivirus.yml's own expression,
evaluated by Ansible on the lab inventory. Nothing connects to a host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_pki_preflight import _run

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles" / "clamav" / "files" / "usr" / "local" / "sbin" / "pdic-clamav"
TEMPLATES = ROOT / "roles" / "clamav" / "templates"
FILES = {
    "clamd.conf": "etc/clamav/clamd.conf",
    "freshclam.conf": "etc/clamav/freshclam.conf",
    "pdic-clamav": "etc/default/pdic-clamav",
    "service.conf": "etc/systemd/system/clamav-daemon.service.d/pdic.conf",
    "socket.conf": "etc/systemd/system/clamav-daemon.socket.d/pdic.conf",
    "pdic-clamav-scan.service": "etc/systemd/system/pdic-clamav-scan.service",
    "pdic-clamav-check.timer": "etc/systemd/system/pdic-clamav-check.timer",
}
SCANNED = ["/var/lib/pdic-apps/hcc/storage"]


def _antivirus_vars() -> dict[str, Any]:
    """The variables playbooks/antivirus.yml gives role clamav."""
    plays = yaml.safe_load((ROOT / "playbooks" / "antivirus.yml").read_text(encoding="utf-8"))
    (role,) = [r for p in plays for r in p.get("roles", []) if r["role"] == "clamav"]
    return dict(role["vars"])


def render(tmp_path: Path, **variables: Any) -> dict[str, str]:
    """The role's files for localhost with ``variables``, by name (see FILES)."""
    out = tmp_path / "rendered"
    out.mkdir()
    tasks = (
        "    - ansible.builtin.include_role:\n        name: clamav\n"
        "        tasks_from: preflight\n        public: true\n"
        "    - ansible.builtin.template:\n"
        f"        src: {TEMPLATES}/{{{{ item.value }}}}.j2\n"
        f"        dest: {out}/{{{{ item.key }}}}\n"
        "        mode: '0644'\n"
        f"      loop: {json.dumps([{'key': k, 'value': v} for k, v in FILES.items()])}\n"
    )
    run = _run(
        "clamav",
        {"ansible_python_interpreter": sys.executable, **variables},
        tmp_path,
        tasks=tasks,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return {name: (out / name).read_text(encoding="utf-8") for name in FILES}


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return render(
        tmp_path_factory.mktemp("lab"), clamav_signatures="local", clamav_scan_paths=SCANNED
    )


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return render(
        tmp_path_factory.mktemp("production"),
        clamav_database_mirror="http://clamav-mirror.thaibinh.gov.vn",
        clamav_concurrent_database_reload=False,
    )


def test_clamd_listens_on_its_local_socket_only(lab: dict[str, str]) -> None:
    conf = lines(lab["clamd.conf"])
    assert "LocalSocket /run/clamav/clamd.ctl" in conf
    assert not [line for line in conf if line.startswith(("TCPSocket", "TCPAddr"))]
    assert "User clamav" in conf and "LogSyslog true" in conf
    # Bare signature names, as rspamd puts them in its SMTP reply.
    assert "ExtendedDetectionInfo false" in conf
    # A mail part up to the mail hosts' largest message (25 MiB) is scanned, not refused.
    assert "StreamMaxLength 32M" in conf and "MaxFileSize 32M" in conf
    assert "ConcurrentDatabaseReload yes" in conf


def test_the_lab_loads_pdics_test_database_in_place_of_clamavs(lab: dict[str, str]) -> None:
    for unit in ("service.conf", "socket.conf"):
        conf = lines(lab[unit])
        assert "ConditionPathExistsGlob=" in conf, unit  # Debian's main/daily conditions reset
        assert "ConditionPathExists=/var/lib/clamav/pdic-local.hdb" in conf, unit
    assert "Restart=on-failure" in lines(lab["service.conf"])


def test_production_keeps_debians_conditions_and_uses_the_mirror(
    production: dict[str, str],
) -> None:
    for unit in ("service.conf", "socket.conf"):
        assert not [line for line in lines(production[unit]) if line.startswith("Condition")]
    fresh = lines(production["freshclam.conf"])
    assert "PrivateMirror http://clamav-mirror.thaibinh.gov.vn" in fresh
    assert not [line for line in fresh if line.startswith("DatabaseMirror")]
    assert "NotifyClamd /etc/clamav/clamd.conf" in fresh
    assert "ConcurrentDatabaseReload no" in lines(production["clamd.conf"])


def test_without_a_mirror_freshclam_asks_clamav(lab: dict[str, str]) -> None:
    fresh = lines(lab["freshclam.conf"])
    assert "DatabaseMirror database.clamav.net" in fresh
    assert not [line for line in fresh if line.startswith("PrivateMirror")]


def test_the_scan_knows_its_directories_and_writes_only_its_results(lab: dict[str, str]) -> None:
    assert "PDIC_CLAMAV_SCAN_PATHS=/var/lib/pdic-apps/hcc/storage" in lines(lab["pdic-clamav"])
    unit = lines(lab["pdic-clamav-scan.service"])
    assert "ExecStart=/usr/local/sbin/pdic-clamav scan" in unit
    assert "ProtectSystem=strict" in unit
    assert "ReadWritePaths=-/var/lib/prometheus/node-exporter /var/lib/pdic-clamav" in unit
    assert "OnUnitActiveSec=60s" in lines(lab["pdic-clamav-check.timer"])


def _clamconf() -> Path:
    """A directory holding usr/bin/clamconf (installed or unpacked)."""
    for root in filter(
        None, [os.environ.get("PDIC_CLAMAV_ROOT", ""), "/", str(ROOT / ".venv" / "clamav")]
    ):
        if (Path(root) / "usr/bin/clamconf").is_file():
            return Path(root)
    if os.environ.get("CI"):
        pytest.fail("clamconf is not available (scripts/setup unpacks it)")
    pytest.skip("clamconf is not available (scripts/setup unpacks clamav-daemon)")


@pytest.mark.parametrize("setting", ["lab", "production"])
@pytest.mark.parametrize("name", ["clamd", "freshclam"])
def test_clamconf_reads_the_rendered_file(
    request: pytest.FixtureRequest, tmp_path: Path, setting: str, name: str
) -> None:
    root = _clamconf()
    wrapper = tmp_path / "clamconf"
    wrapper.write_text(
        f"#!/bin/sh\nLD_LIBRARY_PATH={root}/usr/lib/x86_64-linux-gnu exec {root}/usr/bin/clamconf"
        ' "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    candidate = tmp_path / f"{name}.conf"
    candidate.write_text(request.getfixturevalue(setting)[f"{name}.conf"], encoding="utf-8")
    env = {**os.environ, "PDIC_CLAMCONF": str(wrapper), "PDIC_CLAMAV_DEFAULTS": "/nonexistent"}

    def config_check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), "config-check", name, str(candidate)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    good = config_check()
    assert good.returncode == 0, good.stderr
    candidate.write_text(candidate.read_text(encoding="utf-8") + "MaxThreadz 2\n")
    bad = config_check()
    assert bad.returncode == 1 and "Unknown option MaxThreadz" in bad.stderr


def test_antivirus_yml_scans_each_application_hosts_storage(tmp_path: Path) -> None:
    """The playbook's own expression, evaluated by Ansible for every lab host."""
    out = tmp_path / "paths.json"
    playbook = tmp_path / "paths.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  connection: local\n  tasks:\n"
        '    - ansible.builtin.set_fact:\n        _paths: "{{ clamav_scan_paths }}"\n'
        "    - ansible.builtin.copy:\n"
        f"        dest: {out}\n"
        '        content: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts'
        " | map('extract', hostvars, '_paths'))) | to_json }}\"\n"
        "        mode: '0644'\n      run_once: true\n",
        encoding="utf-8",
    )
    extra = tmp_path / "vars.json"
    extra.write_text(
        json.dumps(
            {
                "clamav_scan_paths": _antivirus_vars()["clamav_scan_paths"],
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
            }
        ),
        encoding="utf-8",
    )
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(ROOT / "inventory" / "lab"),
            str(playbook),
            "-e",
            f"@{extra}",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_CACHE_PLUGIN": "memory",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    paths = json.loads(out.read_text(encoding="utf-8"))
    assert paths["eoffice-1"] == ["/var/lib/pdic-apps/eoffice/storage"]
    assert paths["hcc-1"] == ["/var/lib/pdic-apps/hcc/storage"]
    assert paths["mail-1"] == [] and paths["db-1"] == []
