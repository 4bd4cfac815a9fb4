"""pdic.lab without a lab: apt sources, the lab network, preflight and the base image on disk.

Everything runs on temporary directories and recorded command output. No test here runs a
process, touches a network interface or the real lab's state: an autouse fixture points the
lab's directories at a temporary path and makes any subprocess call fail the test.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pdic import lab
from pdic.errors import LabError
from pdic.inventory import load_inventory
from pdic.lab import BASE_PACKAGES, BASE_PREPARED, SUITE, Lab, LabNet, LabPaths

FIXTURES = Path(__file__).parent / "fixtures"
APT = FIXTURES / "apt"
MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"


_REAL_RUN = subprocess.run
_REAL_POPEN = subprocess.Popen


@pytest.fixture(autouse=True)
def _no_processes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the real lab out of reach: its directories and any subprocess."""
    monkeypatch.setenv("PDIC_LAB_DIR", str(tmp_path / "lab-state"))
    monkeypatch.setenv("PDIC_LAB_CACHE", str(tmp_path / "lab-cache"))

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a unit test started a process: {args}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def _apt_dir(root: Path, files: dict[str, str]) -> Path:
    """An /etc/apt lookalike: ``{relative path: fixture file name in fixtures/apt}``."""
    (root / "sources.list.d").mkdir(parents=True, exist_ok=True)
    for rel, fixture in files.items():
        shutil.copy(APT / fixture, root / rel)
    return root


WriteInventory = Callable[..., Path]


@pytest.fixture
def write_inventory(tmp_path: Path) -> WriteInventory:
    """A small inventory: hosts (name -> address) and the all-level variables."""

    def write(hosts: dict[str, str], **all_vars: str) -> Path:
        root = tmp_path / "inventory"
        (root / "group_vars").mkdir(parents=True, exist_ok=True)
        lines = ["all:", "  children:", "    lab:", "      hosts:"]
        for name, address in hosts.items():
            lines += [f"        {name}:", f"          ansible_host: {address}"]
        (root / "hosts.yml").write_text("\n".join(lines) + "\n")
        (root / "group_vars" / "all.yml").write_text(
            "".join(f"{key}: {value!r}\n" for key, value in all_vars.items()) or "{}\n"
        )
        return root

    return write


def _lab(
    write_inventory: WriteInventory, tmp_path: Path, hosts: dict[str, str], **all_vars: str
) -> Lab:
    inv = load_inventory(write_inventory(hosts, **all_vars))
    return Lab(inv, LabPaths(state=tmp_path / "state", cache=tmp_path / "cache"))


# --------------------------------------------------------------------------------------------
# apt sources of this machine


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    apt = _apt_dir(tmp_path / "apt", {"sources.list.d/debian.sources": "debian.sources"})
    assert lab.host_mirror(apt) == MIRROR
    assert lab.host_security_mirror(apt) == SECURITY


def test_mirror_from_legacy_sources_list(tmp_path: Path) -> None:
    apt = _apt_dir(tmp_path / "apt", {"sources.list": "sources.list"})
    # The commented-out line, the deb-src line and the [options] are not the mirror.
    assert lab.host_mirror(apt) == "http://ftp.vn.debian.org/debian"


def test_mirror_from_a_list_file_in_sources_list_d(tmp_path: Path) -> None:
    apt = _apt_dir(
        tmp_path / "apt",
        {
            "sources.list.d/google-cloud-sdk.list": "google-cloud-sdk.list",
            "sources.list.d/vn.list": "sources.list",
        },
    )
    assert lab.host_mirror(apt) == "http://ftp.vn.debian.org/debian"


def test_mirror_skips_other_repositories(tmp_path: Path) -> None:
    apt = _apt_dir(
        tmp_path / "apt",
        {
            "sources.list.d/a-nodesource.sources": "nodesource.sources",
            "sources.list.d/debian.sources": "debian.sources",
        },
    )
    assert lab.host_mirror(apt) == MIRROR


def test_mirror_trailing_slash_is_dropped(tmp_path: Path) -> None:
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example.vn/debian/\nSuites: bookworm\n"
        "\nTypes: deb\nURIs: http://mirror.example.vn/debian-security/\n"
        "Suites: bookworm-security\n"
    )
    assert lab.host_mirror(apt) == "http://mirror.example.vn/debian"
    assert lab.host_security_mirror(apt) == "http://mirror.example.vn/debian-security"


@pytest.mark.parametrize(
    "files",
    [
        {},
        {"sources.list.d/nodesource.sources": "nodesource.sources"},
        {"sources.list.d/google-cloud-sdk.list": "google-cloud-sdk.list"},
        # A disabled file is not read: only *.sources and *.list count.
        {"sources.list.d/debian.sources.disabled": "debian.sources"},
    ],
    ids=["empty", "nodesource-only", "google-only", "disabled"],
)
def test_no_debian_mirror_is_an_error_naming_the_directory(
    tmp_path: Path, files: dict[str, str]
) -> None:
    apt = _apt_dir(tmp_path / "apt", files)
    with pytest.raises(LabError, match="no Debian mirror") as err:
        lab.host_mirror(apt)
    assert str(err.value).startswith(f"{apt}: ")


def test_no_security_mirror_is_none(tmp_path: Path) -> None:
    apt = _apt_dir(tmp_path / "apt", {"sources.list.d/nodesource.sources": "nodesource.sources"})
    assert lab.host_security_mirror(apt) is None


def test_security_mirror_from_legacy_sources_list(tmp_path: Path) -> None:
    apt = _apt_dir(tmp_path / "apt", {"sources.list": "sources.list"})
    assert lab.host_security_mirror(apt) == "http://security.debian.org/debian-security"


def _stanzas(text: str) -> list[dict[str, str]]:
    return [
        dict(line.split(": ", 1) for line in block.splitlines())
        for block in text.strip().split("\n\n")
    ]


def test_sources_text_without_security() -> None:
    assert _stanzas(lab._sources_text(MIRROR, None)) == [
        {
            "Types": "deb",
            "URIs": MIRROR,
            "Suites": f"{SUITE} {SUITE}-updates",
            "Components": "main",
            "Signed-By": "/usr/share/keyrings/debian-archive-keyring.gpg",
        }
    ]


def test_sources_text_with_security() -> None:
    main, security = _stanzas(lab._sources_text(MIRROR, SECURITY))
    assert main["URIs"] == MIRROR
    assert security == {
        "Types": "deb",
        "URIs": SECURITY,
        "Suites": f"{SUITE}-security",
        "Components": "main",
        "Signed-By": "/usr/share/keyrings/debian-archive-keyring.gpg",
    }


# --------------------------------------------------------------------------------------------
# the lab network


def test_labnet_from_inventory(write_inventory: WriteInventory) -> None:
    inv = load_inventory(write_inventory({"a-1": "10.251.0.11"}, pdic_network="10.251.0.0/24"))
    net = LabNet.from_inventory(inv)
    assert str(net.network) == "10.251.0.0/24"
    assert net.bridge == "pdiclab0"
    assert net.gateway == "10.251.0.1"


def test_labnet_bridge_from_inventory(write_inventory: WriteInventory) -> None:
    inv = load_inventory(
        write_inventory(
            {"a-1": "10.9.0.11"}, pdic_network="10.9.0.0/24", pdic_lab_bridge="br-fifteen-char"
        )
    )
    assert LabNet.from_inventory(inv).bridge == "br-fifteen-char"


def test_labnet_without_network(write_inventory: WriteInventory) -> None:
    root = write_inventory({"a-1": "10.251.0.11"}, pdic_domain="lab.example")
    with pytest.raises(LabError, match="pdic_network: missing") as err:
        LabNet.from_inventory(load_inventory(root))
    assert f"{root}/group_vars/all" in str(err.value)


@pytest.mark.parametrize(
    "network", ["10.251.0.0/33", "10.251.0.1/24", "not-a-network", "fd00:251::/64"]
)
def test_labnet_bad_network(write_inventory: WriteInventory, network: str) -> None:
    inv = load_inventory(write_inventory({"a-1": "10.251.0.11"}, pdic_network=network))
    with pytest.raises(LabError, match="is not an IPv4 network") as err:
        LabNet.from_inventory(inv)
    assert f"pdic_network: {network!r}" in str(err.value)


def test_labnet_bridge_name_too_long(write_inventory: WriteInventory) -> None:
    inv = load_inventory(
        write_inventory(
            {"a-1": "10.251.0.11"},
            pdic_network="10.251.0.0/24",
            pdic_lab_bridge="pdic-lab-bridge0",
        )
    )
    with pytest.raises(LabError, match=r"pdic_lab_bridge: 'pdic-lab-bridge0' must be 1-15"):
        LabNet.from_inventory(inv)


def _record_ip(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """lab._run answers `ip -j -4 addr show` with the recorded output; returns the calls."""
    calls: list[list[str]] = []
    stdout = (FIXTURES / "ip-addr-show.json").read_text()

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        assert argv == ["ip", "-j", "-4", "addr", "show"], argv
        return subprocess.CompletedProcess(argv, 0, stdout, "")

    monkeypatch.setattr(lab, "_run", run)
    return calls


def _net(cidr: str, bridge: str = "pdiclab0") -> LabNet:
    return LabNet(ipaddress.IPv4Network(cidr), bridge)


def test_subnet_of_the_lab_bridge_itself_is_not_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _record_ip(monkeypatch)
    assert lab._subnet_taken_by(_net("10.251.0.0/24")) is None
    assert len(calls) == 1


def test_subnet_free_when_nothing_overlaps(monkeypatch: pytest.MonkeyPatch) -> None:
    _record_ip(monkeypatch)
    assert lab._subnet_taken_by(_net("10.252.0.0/24")) is None


@pytest.mark.parametrize(
    ("cidr", "bridge", "taken"),
    [
        ("192.0.2.0/24", "pdiclab0", "eth0 (192.0.2.2/24)"),
        ("192.0.2.128/25", "pdiclab0", "eth0 (192.0.2.2/24)"),
        ("172.17.5.0/24", "pdiclab0", "docker0 (172.17.0.1/16)"),
        # Another bridge name: the running lab's bridge is then someone else's address.
        ("10.251.0.0/16", "pdiclab1", "pdiclab0 (10.251.0.1/24)"),
    ],
)
def test_subnet_taken_by_another_device(
    monkeypatch: pytest.MonkeyPatch, cidr: str, bridge: str, taken: str
) -> None:
    _record_ip(monkeypatch)
    assert lab._subnet_taken_by(_net(cidr, bridge)) == taken


def test_bridge_refuses_a_taken_subnet(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _record_ip(monkeypatch)
    with pytest.raises(LabError, match=r"192\.0\.2\.0/24 is already used .* by eth0") as err:
        lab.ensure_bridge(_net("192.0.2.0/24"))
    assert "choose another pdic_network" in str(err.value)
    assert len(calls) == 1  # nothing was created


@pytest.mark.parametrize(
    "host", ["portal-1", "db-1", "monitoring-1", "mon-prometheus-long-name-1", "x"]
)
def test_veth_name_fits_an_interface_name(host: str) -> None:
    name = lab._veth_name(host)
    assert 1 <= len(name) <= 15
    assert name.startswith("pl-")


def test_veth_name_keeps_a_short_host_name() -> None:
    assert lab._veth_name("portal-1") == "pl-portal-1"


def test_veth_names_of_long_host_names_differ() -> None:
    assert lab._veth_name("monitoring-node-1") != lab._veth_name("monitoring-node-2")


# --------------------------------------------------------------------------------------------
# preflight


def _which(missing: set[str]) -> Callable[[str], str | None]:
    return lambda tool: None if tool in missing else f"/usr/bin/{tool}"


def test_preflight_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(shutil, "which", _which(set()))
    with pytest.raises(LabError, match="needs root"):
        lab.require_root_and_tools()


def test_preflight_passes_as_root_with_every_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", _which(set()))
    lab.require_root_and_tools()


@pytest.mark.parametrize(
    ("missing", "names", "install"),
    [
        ({"systemd-nspawn"}, "systemd-nspawn", "systemd-container"),
        ({"debootstrap"}, "debootstrap", "debootstrap"),
        ({"nsenter"}, "nsenter", "util-linux"),
        ({"ssh", "ssh-keygen"}, "ssh, ssh-keygen", "openssh-client"),
        ({"ip", "apt-cacher-ng"}, "ip, apt-cacher-ng", "apt-cacher-ng iproute2"),
    ],
)
def test_preflight_names_the_package_of_a_missing_tool(
    monkeypatch: pytest.MonkeyPatch, missing: set[str], names: str, install: str
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", _which(missing))
    with pytest.raises(LabError) as err:
        lab.require_root_and_tools()
    assert str(err.value) == f"missing tools: {names}; install: apt-get install {install}"


def test_preflight_checks_only_the_tools_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", _which({"debootstrap", "systemd-nspawn"}))
    lab.require_root_and_tools(("ip",))
    monkeypatch.setattr(shutil, "which", _which({"ip"}))
    with pytest.raises(LabError, match=r"apt-get install iproute2$"):
        lab.require_root_and_tools(("ip",))


# --------------------------------------------------------------------------------------------
# the lab's hosts


def test_hosts_inside_the_network(write_inventory: WriteInventory, tmp_path: Path) -> None:
    the_lab = _lab(
        write_inventory,
        tmp_path,
        {"a-1": "10.251.0.11", "b-1": "10.251.0.12"},
        pdic_network="10.251.0.0/24",
    )
    assert [h.name for h in the_lab.hosts()] == ["a-1", "b-1"]
    assert [h.name for h in the_lab.hosts("b-1")] == ["b-1"]


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.252.0.11", "must be inside 10.251.0.0/24"),
        ("10.251.0.1", "not the bridge address 10.251.0.1"),
        ("fd00::11", "is not an IPv4 address"),
        ("portal-1.lab.example", "is not an IPv4 address"),
    ],
)
def test_hosts_rejects_an_address_the_lab_cannot_give(
    write_inventory: WriteInventory, tmp_path: Path, address: str, why: str
) -> None:
    the_lab = _lab(
        write_inventory,
        tmp_path,
        {"a-1": "10.251.0.11", "b-1": address},
        pdic_network="10.251.0.0/24",
    )
    with pytest.raises(LabError, match=r"^b-1: ansible_host ") as err:
        the_lab.hosts()
    assert why in str(err.value)


def test_hosts_rejects_the_broadcast_address(
    write_inventory: WriteInventory, tmp_path: Path
) -> None:
    the_lab = _lab(write_inventory, tmp_path, {"b-1": "10.251.0.255"}, pdic_network="10.251.0.0/24")
    with pytest.raises(LabError, match=r"^b-1: "):
        the_lab.hosts()


def test_lab_paths_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PDIC_LAB_DIR")
    monkeypatch.delenv("PDIC_LAB_CACHE")
    paths = LabPaths.default()
    assert paths.state == Path("/var/lib/pdic-lab")
    assert paths.cache == Path("/var/cache/pdic-lab")


def test_lab_paths_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PDIC_LAB_DIR", str(tmp_path / "s"))
    monkeypatch.setenv("PDIC_LAB_CACHE", str(tmp_path / "c"))
    paths = LabPaths.default()
    assert paths.state == tmp_path / "s"
    assert paths.cache == tmp_path / "c"
    assert paths.base == tmp_path / "c" / f"base-{SUITE}"
    assert paths.key == tmp_path / "s" / "ssh" / "id_ed25519"
    assert paths.admin_key == tmp_path / "s" / "ssh" / "admin_ed25519"
    assert paths.known_hosts == tmp_path / "s" / "ssh" / "known_hosts"
    assert paths.host("db-1") == tmp_path / "s" / "hosts" / "db-1"


def test_ssh_argv_with_a_user(write_inventory: WriteInventory, tmp_path: Path) -> None:
    the_lab = _lab(write_inventory, tmp_path, {"a-1": "10.251.0.11"}, pdic_network="10.251.0.0/24")
    argv = the_lab.ssh_argv("a-1", "root", ["systemctl", "is-system-running"])
    assert argv[0] == "ssh"
    assert argv[argv.index("-i") + 1] == str(the_lab.paths.key)
    options = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
    assert f"UserKnownHostsFile={the_lab.paths.known_hosts}" in options
    assert "StrictHostKeyChecking=accept-new" in options
    assert argv[-3:] == ["root@10.251.0.11", "systemctl", "is-system-running"]


def test_an_administrator_logs_in_with_the_lab_administrators_key(
    write_inventory: WriteInventory, tmp_path: Path
) -> None:
    admins = [{"name": "labadmin", "totp_secret": "vault_totp_labadmin"}]
    the_lab = _lab(
        write_inventory,
        tmp_path,
        {"a-1": "10.251.0.11"},
        pdic_admins=admins,
    )
    argv = the_lab.ssh_argv("a-1", "labadmin")
    assert argv[argv.index("-i") + 1] == str(the_lab.paths.admin_key)
    assert argv[-1] == "labadmin@10.251.0.11"
    assert the_lab.ssh_argv("a-1", "root")[2] == str(the_lab.paths.key)


def test_the_lab_makes_its_two_key_pairs_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[list[str]] = []

    def run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        made.append(argv)
        Path(argv[-1]).write_text("private\n")
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(lab, "_run", run)
    paths = LabPaths(state=tmp_path / "state", cache=tmp_path / "cache")
    lab.ensure_key(paths)
    lab.ensure_key(paths)
    assert [(a[a.index("-C") + 1], a[-1]) for a in made] == [
        ("pdic-lab", str(paths.key)),
        ("pdic-lab-admin", str(paths.admin_key)),
    ]
    assert paths.ssh_dir.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(("probe_rc", "user"), [(0, "pdicops"), (255, "root")])
def test_ssh_argv_probes_the_ops_account(
    write_inventory: WriteInventory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    probe_rc: int,
    user: str,
) -> None:
    the_lab = _lab(
        write_inventory,
        tmp_path,
        {"a-1": "10.251.0.11"},
        pdic_network="10.251.0.0/24",
        pdic_ops_user="pdicops",
    )
    probes: list[list[str]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        probes.append(argv)
        return subprocess.CompletedProcess(argv, probe_rc, b"", b"")

    monkeypatch.setattr(subprocess, "run", run)
    assert the_lab.ssh_argv("a-1")[-1] == f"{user}@10.251.0.11"
    assert len(probes) == 1
    assert "BatchMode=yes" in probes[0]
    assert probes[0][-2:] == ["pdicops@10.251.0.11", "true"]


# --------------------------------------------------------------------------------------------
# the base image


def _fake_root(root: Path) -> Path:
    """What debootstrap leaves behind, as far as _prepare_base cares."""
    files = {
        "etc/ssh/ssh_host_rsa_key": "PRIVATE",
        "etc/ssh/ssh_host_rsa_key.pub": "ssh-rsa AAAA",
        "etc/ssh/ssh_host_ed25519_key": "PRIVATE",
        "etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\n",
        "etc/machine-id": "0123456789abcdef0123456789abcdef\n",
        "etc/hostname": "builder\n",
        "etc/apt/sources.list": "deb http://deb.debian.org/debian bookworm main\n",
        "etc/apt/apt.conf.d/01autoremove": "APT::NeverAutoRemove {};\n",
        "etc/default/keyboard": "XKBLAYOUT=us\n",
        "var/cache/apt/archives/x.deb": "!<arch>",
        "var/cache/apt/archives/lock": "",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "var/cache/apt/archives/partial").mkdir()
    return root


def _assert_prepared(root: Path, mirror: str, security: str | None) -> None:
    assert sorted(p.name for p in (root / "etc/ssh").iterdir()) == ["sshd_config"]
    assert (root / "etc/machine-id").read_text() == ""
    assert not list((root / "var/cache/apt/archives").glob("*.deb"))
    assert (root / "var/cache/apt/archives/partial").is_dir()
    assert not (root / "etc/hostname").exists()
    assert (root / "etc/apt/sources.list").read_text() == ""
    sources = (root / "etc/apt/sources.list.d/debian.sources").read_text()
    assert sources == lab._sources_text(mirror, security)
    assert (root / "etc/default/locale").read_text() == "LANG=C.UTF-8\n"
    assert "nameserver" not in (root / "etc/resolv.conf").read_text()
    apt_conf = (root / "etc/apt/apt.conf.d/10pdic-timeouts").read_text().splitlines()
    assert 'Acquire::http::Pipeline-Depth "0";' in apt_conf
    dropin = (root / "etc/systemd/system/ssh.service.d/pdic-hostkeys.conf").read_text()
    starts = [line for line in dropin.splitlines() if line.startswith("ExecStartPre=")]
    # The empty assignment resets the packaged ExecStartPre before ours run.
    assert starts[0] == "ExecStartPre="
    assert starts.index("ExecStartPre=/usr/bin/ssh-keygen -A") < starts.index(
        "ExecStartPre=/usr/sbin/sshd -t"
    )
    assert "[Service]" in dropin.splitlines()


def test_prepare_base(tmp_path: Path) -> None:
    root = _fake_root(tmp_path / "root")
    lab._prepare_base(root, MIRROR, SECURITY)
    _assert_prepared(root, MIRROR, SECURITY)


def test_prepare_base_twice_is_the_same(tmp_path: Path) -> None:
    root = _fake_root(tmp_path / "root")
    lab._prepare_base(root, MIRROR, None)
    lab._prepare_base(root, MIRROR, None)
    _assert_prepared(root, MIRROR, None)


@pytest.fixture
def mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's apt sources, as ensure_base sees them."""
    monkeypatch.setattr(lab, "host_mirror", lambda: MIRROR)
    monkeypatch.setattr(lab, "host_security_mirror", lambda: SECURITY)


def _cached_base(tmp_path: Path, marker: str) -> LabPaths:
    paths = LabPaths(state=tmp_path / "state", cache=tmp_path / "cache")
    _fake_root(paths.base)
    (paths.base / ".pdic-base").write_text(marker)
    return paths


@pytest.mark.usefixtures("mirrors")
@pytest.mark.parametrize(
    "marker",
    [json.dumps({"suite": SUITE, "mirror": MIRROR, "prepared": BASE_PREPARED - 1}), "{}", "{bad"],
    ids=["older", "no-prepared", "not-json"],
)
def test_ensure_base_prepares_an_old_base_again_without_debootstrap(
    tmp_path: Path, marker: str
) -> None:
    paths = _cached_base(tmp_path, marker)
    assert lab.ensure_base(paths, log=pytest.fail) is False
    _assert_prepared(paths.base, MIRROR, SECURITY)
    assert json.loads((paths.base / ".pdic-base").read_text()) == {
        "suite": SUITE,
        "mirror": MIRROR,
        "prepared": BASE_PREPARED,
    }


@pytest.mark.usefixtures("mirrors")
def test_ensure_base_leaves_a_current_base_alone(tmp_path: Path) -> None:
    marker = json.dumps({"suite": SUITE, "mirror": MIRROR, "prepared": BASE_PREPARED})
    paths = _cached_base(tmp_path, marker)
    assert lab.ensure_base(paths, log=pytest.fail) is False
    assert (paths.base / "etc/ssh/ssh_host_rsa_key").exists()
    assert (paths.base / "etc/hostname").exists()


@pytest.mark.usefixtures("mirrors")
def test_ensure_base_builds_with_debootstrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = LabPaths(state=tmp_path / "state", cache=tmp_path / "cache")
    calls: list[list[str]] = []

    def debootstrap(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        _fake_root(Path(argv[-2]))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(subprocess, "run", debootstrap)
    logged: list[str] = []
    assert lab.ensure_base(paths, log=logged.append) is True
    [argv] = calls
    assert argv[0] == "debootstrap"
    assert f"--include={','.join(BASE_PACKAGES)}" in argv
    assert argv[-3:] == [SUITE, str(paths.cache / f".base-{SUITE}.tmp"), MIRROR]
    assert logged and MIRROR in logged[0]
    _assert_prepared(paths.base, MIRROR, SECURITY)
    assert json.loads((paths.base / ".pdic-base").read_text())["prepared"] == BASE_PREPARED
    assert not (paths.cache / f".base-{SUITE}.tmp").exists()


@pytest.mark.usefixtures("mirrors")
def test_ensure_base_reports_a_failed_debootstrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = LabPaths(state=tmp_path / "state", cache=tmp_path / "cache")

    def debootstrap(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        stderr = textwrap.dedent(
            """\
            I: Retrieving InRelease
            E: Failed getting release file http://deb.debian.org/debian/dists/bookworm/Release
            """
        )
        return subprocess.CompletedProcess(argv, 1, "", stderr)

    monkeypatch.setattr(subprocess, "run", debootstrap)
    with pytest.raises(LabError, match=r"debootstrap failed \(1\): .*Failed getting release"):
        lab.ensure_base(paths, log=lambda _: None)
    assert not paths.base.exists()


def test_supervisor_boots_again_after_a_reboot_and_stops_on_poweroff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subprocess, "Popen", _REAL_POPEN)  # this test runs the real script
    # A stand-in systemd-nspawn: exits 133 (the container rebooted) twice, then 0 (powered off).
    fake = tmp_path / "bin" / "systemd-nspawn"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/sh\necho "$@" >> boots\nn=$(wc -l < boots)\n[ "$n" -le 2 ] && exit 133\nexit 0\n'
    )
    fake.chmod(0o755)
    (tmp_path / "supervisor.pid").write_text("1\n")
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin"}
    script = lab.SUPERVISOR.format(reboot=lab.EXIT_REBOOT)
    proc = _REAL_RUN(
        ["bash", "-c", script, "pdic-lab-supervisor", "--boot", "-M", "h-1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "boots").read_text().splitlines() == ["--boot -M h-1"] * 3
    assert not (tmp_path / "nspawn.pid").exists()
    assert not (tmp_path / "supervisor.pid").exists()


def test_vault_password_is_random_private_and_kept(tmp_path: Path) -> None:
    paths = LabPaths(state=tmp_path / "state", cache=tmp_path / "cache")
    path = lab.ensure_vault_password(paths)
    first = path.read_text()
    assert len(first.strip()) >= 40
    assert path.stat().st_mode & 0o777 == 0o600
    assert lab.ensure_vault_password(paths).read_text() == first  # generated once
    other = LabPaths(state=tmp_path / "other", cache=tmp_path / "cache")
    assert lab.ensure_vault_password(other).read_text() != first


@pytest.mark.parametrize("in_state", [True, False])
def test_destroy_drops_the_vault_file_only_when_its_password_dies_with_the_lab(
    write_inventory: WriteInventory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_state: bool
) -> None:
    password = tmp_path / ("state" if in_state else "elsewhere") / "vault-password"
    the_lab = _lab(
        write_inventory, tmp_path, {"h1": "10.9.0.2"}, pdic_vault_password_file=str(password)
    )
    monkeypatch.setattr(Lab, "_down", lambda self, limit=None: [])
    monkeypatch.setattr(lab, "require_root_and_tools", lambda tools=(): None)
    monkeypatch.setattr(lab, "LAB_LOCK", tmp_path / "lab.lock")
    vault = the_lab.inventory.path / "group_vars" / "all" / "vault.yml"
    vault.parent.mkdir(parents=True)
    vault.write_text("$ANSIBLE_VAULT;1.1;AES256\n00\n")
    the_lab.paths.state.mkdir(parents=True)
    the_lab.destroy()
    assert vault.exists() is not in_state
    assert not the_lab.paths.state.exists()


def test_one_lab_per_machine_the_second_holder_is_told_who_has_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "lab.lock"
    monkeypatch.delenv(lab.HOLDER_ENV, raising=False)
    with lab.lab_lock("pdic lab up", lock):
        assert os.environ[lab.HOLDER_ENV] == str(os.getpid())
        # A child of the holder (the lab tests' pdic subprocesses) passes through.
        with lab.lab_lock("pdic lab destroy", lock):
            pass
        # Anyone else is refused, with the holder named. A second open file description in
        # this process stands in for another process: flock locks belong to the description.
        monkeypatch.delenv(lab.HOLDER_ENV)
        held = r"the lab is in use by pid \d+ in .* \(pdic lab up, since"
        with pytest.raises(LabError, match=held), lab.lab_lock("pdic lab destroy", lock):
            pytest.fail("took a lock that is held")
        monkeypatch.setenv(lab.HOLDER_ENV, "1")  # someone else's pid: not the holder
        with (
            pytest.raises(LabError, match="the lab is in use"),
            lab.lab_lock("pdic lab down", lock),
        ):
            pass
    monkeypatch.delenv(lab.HOLDER_ENV, raising=False)
    with lab.lab_lock("pdic lab down", lock):  # released: free again
        pass
    assert lab.HOLDER_ENV not in os.environ


def test_freeze_host_writes_cgroup_freeze_and_waits_for_the_kernel(tmp_path: Path) -> None:
    import threading

    from pdic.errors import LabError
    from pdic.lab import freeze_host

    unified = tmp_path / "unified" / "pdic-lab" / "hcc-1"
    v1 = tmp_path / "systemd" / "pdic-lab" / "hcc-1"  # a v1 hierarchy: no cgroup.freeze
    for d in (unified, v1):
        d.mkdir(parents=True)
    (unified / "cgroup.freeze").write_text("0\n")
    (unified / "cgroup.events").write_text("populated 1\nfrozen 0\n")

    def kernel() -> None:  # the kernel reports the freeze a moment later
        time.sleep(0.2)
        (unified / "cgroup.events").write_text("populated 1\nfrozen 1\n")

    threading.Thread(target=kernel).start()
    assert freeze_host("hcc-1", True, [unified, v1]) == [unified]
    assert (unified / "cgroup.freeze").read_text() == "1\n"
    (unified / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    freeze_host("hcc-1", False, [unified, v1])
    assert (unified / "cgroup.freeze").read_text() == "0\n"
    with pytest.raises(LabError, match=r"^hcc-1: no cgroup of this host can be frozen"):
        freeze_host("hcc-1", True, [v1])
