"""The lab: a centre of real booted Debian 12 hosts on this machine.

One systemd-nspawn container per host of an inventory (``inventory/lab`` by default), each with
systemd as PID 1, its own network namespace and address on a private bridge, and sshd. A base
root filesystem is built once with debootstrap and cached; each host boots on an overlay of it,
so the base is never written and a host keeps its state across stop and start. apt-cacher-ng on
the bridge address serves Debian packages to every host: there is no NAT to the outside.

It works where PID 1 is not systemd (no machined, no system bus): the lab keeps its own pid files,
stops hosts with SIGTERM (the container powers off cleanly) and reaches them over ssh or with
``nsenter``. A supervisor loop boots a host again when it reboots (systemd-nspawn exits with 133).

What it deliberately does not do: limit CPU or memory per host (containers stay in the caller's
cgroup), set kernel sysctls for hosts, or reach anything outside the lab bridge.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pdic import sshaccess
from pdic.errors import LabError
from pdic.inventory import Host, Inventory
from pdic.inventory.values import UNIX_USER

# One lab per machine: whoever changes it (lab up/down/destroy, a lab test session) holds this
# lock, so that two checkouts or two operators cannot rebuild it under each other. A holder's
# own child processes pass through (PDIC_LAB_LOCK_HOLDER is the holder's pid).
LAB_LOCK = Path("/run/pdic-lab.lock")
HOLDER_ENV = "PDIC_LAB_LOCK_HOLDER"

SUITE = "bookworm"
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "sudo")
ACNG_PORT = 3142
# Tool -> Debian package that provides it: named in the error when a tool is missing.
REQUIRED_TOOLS = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "ip": "iproute2",
    "apt-cacher-ng": "apt-cacher-ng",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "nsenter": "util-linux",
}
EXIT_REBOOT = 133
# Bumped when _prepare_base changes: a cached base image is prepared again, not rebuilt.
BASE_PREPARED = 5

# Runs as the supervisor of one host: boots it again when the container reboots.
SUPERVISOR = r"""
set -u
# A cgroup of its own for this host in each hierarchy (PDIC_LAB_CGROUPS): containers that share
# one cgroup see each other's units (a unit failed "at step CGROUP" when two booted at once).
for d in ${{PDIC_LAB_CGROUPS:-}}; do
  mkdir -p "$d" 2>/dev/null && echo $$ > "$d/cgroup.procs" 2>/dev/null || true
done
while :; do
  systemd-nspawn "$@" </dev/null &
  echo $! > nspawn.pid
  wait $!
  rc=$?
  [ "$rc" -eq {reboot} ] || break
done
rm -f nspawn.pid supervisor.pid
exit "$rc"
"""


@dataclass(frozen=True)
class LabPaths:
    """Where the lab keeps its state (hosts' overlays, keys, pids) and its cached base image."""

    state: Path
    cache: Path

    @classmethod
    def default(cls) -> LabPaths:
        return cls(
            state=Path(os.environ.get("PDIC_LAB_DIR", "/var/lib/pdic-lab")),
            cache=Path(os.environ.get("PDIC_LAB_CACHE", "/var/cache/pdic-lab")),
        )

    @property
    def base(self) -> Path:
        return self.cache / f"base-{SUITE}"

    @property
    def ssh_dir(self) -> Path:
        return self.state / "ssh"

    @property
    def key(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def admin_key(self) -> Path:
        """The lab administrator's own key (the lab inventory's pdic_admins names its .pub)."""
        return self.ssh_dir / "admin_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def acng(self) -> Path:
        return self.state / "apt-cacher-ng"

    def host(self, name: str) -> Path:
        return self.state / "hosts" / name


@dataclass(frozen=True)
class HostState:
    """What `pdic lab status` shows for one host."""

    name: str
    address: str
    running: bool
    system: str  # systemctl is-system-running, or "stopped"/"unreachable"
    pid: int | None

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LabNet:
    """The lab's network, read from the inventory."""

    network: ipaddress.IPv4Network
    bridge: str

    @property
    def gateway(self) -> str:
        return str(next(self.network.hosts()))

    @classmethod
    def from_inventory(cls, inv: Inventory) -> LabNet:
        where = f"{inv.path}/group_vars/all"
        raw = inv.vars.get("pdic_network")
        if not raw:
            raise LabError(f"{where}: pdic_network: missing (the lab's subnet, e.g. 10.251.0.0/24)")
        try:
            network = ipaddress.IPv4Network(str(raw))
        except ValueError as exc:
            raise LabError(f"{where}: pdic_network: {raw!r} is not an IPv4 network: {exc}") from exc
        bridge = str(inv.vars.get("pdic_lab_bridge", "pdiclab0"))
        if not 1 <= len(bridge) <= 15:
            raise LabError(f"{where}: pdic_lab_bridge: {bridge!r} must be 1-15 characters")
        return cls(network=network, bridge=bridge)


# --------------------------------------------------------------------------------------------
# small helpers


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(
            f"{' '.join(argv)} failed ({proc.returncode}): {detail[-1] if detail else ''}"
        )
    return proc


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        if stat.read_text().split()[2] == "Z":
            return False
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _ns_name(host: str) -> str:
    return f"pdiclab-{host}"


def _veth_name(host: str) -> str:
    """Host-side interface name: at most 15 characters, distinct for distinct hosts."""
    name = f"pl-{host}"
    if len(name) <= 15:
        return name
    digest = hashlib.sha1(host.encode()).hexdigest()[:6]
    return f"pl-{host[:5]}-{digest}"


def require_root_and_tools(tools: Iterable[str] = REQUIRED_TOOLS) -> None:
    """Fail with a clear message when not root or when a tool is missing (naming its package)."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, containers): run pdic lab as root")
    missing = sorted({REQUIRED_TOOLS[t] for t in tools if shutil.which(t) is None})
    if missing:
        names = ", ".join(t for t in tools if shutil.which(t) is None)
        raise LabError(f"missing tools: {names}; install: apt-get install {' '.join(missing)}")


def _apt_uris(sources_dir: Path) -> list[str]:
    """Every repository URI of this machine's apt sources (deb822 and one-line formats)."""
    uris: list[str] = []
    for path in sorted(sources_dir.glob("sources.list.d/*.sources")):
        for line in path.read_text().splitlines():
            if line.startswith("URIs:"):
                uris.extend(u.rstrip("/") for u in line.split(":", 1)[1].split())
    for path in [sources_dir / "sources.list", *sorted(sources_dir.glob("sources.list.d/*.list"))]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            parts = line.split("#", 1)[0].split()
            if parts and parts[0] == "deb":
                uri = next((p for p in parts[1:] if "://" in p), None)
                if uri:
                    uris.append(uri.rstrip("/"))
    return uris


def host_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's own apt sources use (never a hard-coded host name)."""
    for uri in _apt_uris(sources_dir):
        if uri.endswith("/debian"):
            return uri
    raise LabError(f"{sources_dir}: no Debian mirror (a URI ending in /debian) in the apt sources")


def host_security_mirror(sources_dir: Path = Path("/etc/apt")) -> str | None:
    """The security mirror from this machine's apt sources, if it has one."""
    return next((u for u in _apt_uris(sources_dir) if u.endswith("/debian-security")), None)


# --------------------------------------------------------------------------------------------
# base image


def ensure_vault_password(paths: LabPaths) -> Path:
    """The lab's Ansible Vault password: random, generated locally once, never committed."""
    path = paths.state / "vault-password"
    if not path.exists():
        paths.state.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    return path


def ensure_key(paths: LabPaths) -> None:
    """The lab's ssh key pairs (generated locally once, never committed): the operations
    account's and root's (bootstrap), and the lab administrator's own."""
    paths.ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for key, comment in ((paths.key, "pdic-lab"), (paths.admin_key, "pdic-lab-admin")):
        if not key.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)])
    paths.known_hosts.touch(mode=0o600, exist_ok=True)


def _sources_text(mirror: str, security: str | None) -> str:
    text = (
        f"Types: deb\nURIs: {mirror}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    if security:
        text += (
            f"\nTypes: deb\nURIs: {security}\nSuites: {SUITE}-security\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )
    return text


def ensure_base(paths: LabPaths, log: Callable[[str], None] = print) -> bool:
    """Build the cached base root filesystem once; True when it was built now.

    Deliberately without python3: bootstrapping a bare host is part of what the lab proves.
    """
    marker = paths.base / ".pdic-base"
    mirror = host_mirror()
    security = host_security_mirror()
    if marker.exists():
        try:
            prepared = json.loads(marker.read_text()).get("prepared")
        except ValueError:
            prepared = None
        if prepared != BASE_PREPARED:
            _prepare_base(paths.base, mirror, security)
            marker.write_text(
                json.dumps({"suite": SUITE, "mirror": mirror, "prepared": BASE_PREPARED})
            )
        return False
    paths.cache.mkdir(parents=True, exist_ok=True)
    tmp = paths.cache / f".base-{SUITE}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    log(f"building the base image with debootstrap from {mirror} (once, about a minute)")
    proc = subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            SUITE,
            str(tmp),
            mirror,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise LabError(f"debootstrap failed ({proc.returncode}): {' | '.join(tail)}")
    _prepare_base(tmp, mirror, security)
    if paths.base.exists():
        shutil.rmtree(paths.base)
    tmp.rename(paths.base)
    marker.write_text(json.dumps({"suite": SUITE, "mirror": mirror, "prepared": BASE_PREPARED}))
    return True


NET_SYSCTL_UNIT = """\
# Installed by pdic lab: this lab host's network namespace is its own, so /proc/sys/net is
# made writable (systemd-nspawn mounts /proc/sys read-only for a namespace it did not make).
[Unit]
Description=Writable network sysctls of this lab host's own network namespace
DefaultDependencies=no
Before=systemd-sysctl.service sysinit.target
ConditionPathIsReadWrite=!/proc/sys/net

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/mount --bind /proc/sys/net /proc/sys/net
ExecStart=/bin/mount -o remount,bind,rw /proc/sys/net

[Install]
WantedBy=sysinit.target
"""


def _prepare_base(root: Path, mirror: str, security: str | None) -> None:
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    dropin = root / "etc/systemd/system/ssh.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "pdic-hostkeys.conf").write_text(
        "# Each lab host makes its own host keys on first boot, before sshd checks its config.\n"
        "[Service]\nExecStartPre=\n"
        "ExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n"
    )
    # systemd-nspawn mounts /proc/sys read-only unless it made the network itself; each lab host
    # has its own network namespace, so its net.* sysctls are its own to set (as on a machine).
    unit = root / "etc/systemd/system/pdic-lab-sysctl-net.service"
    unit.write_text(NET_SYSCTL_UNIT)
    wants = root / "etc/systemd/system/sysinit.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / unit.name
    link.unlink(missing_ok=True)
    link.symlink_to(f"/etc/systemd/system/{unit.name}")
    (root / "etc/machine-id").write_text("")
    (root / "etc/apt/sources.list").write_text("")
    (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(_sources_text(mirror, security))
    (root / "etc/default/locale").write_text("LANG=C.UTF-8\n")
    # debootstrap copied this machine's resolver, which lab hosts cannot and must not reach.
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text(
        "# The lab has no DNS: host names come from /etc/hosts.\n"
    )
    # Fail fast on a bad proxy instead of hanging, and retry: with HTTP pipelining, apt's http
    # method was seen to hang in CLOSE-WAIT when nine hosts asked the proxy for one file at once.
    (root / "etc/apt/apt.conf.d/10pdic-timeouts").write_text(
        'Acquire::http::Timeout "15";\nAcquire::http::Pipeline-Depth "0";\nAcquire::Retries "3";\n'
    )
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    # Each host's overlay carries its own /etc/hostname.
    (root / "etc/hostname").unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# network


def _subnet_taken_by(net: LabNet) -> str | None:
    """The device that already has an address in the lab's subnet, if it is not the lab bridge."""
    proc = _run(["ip", "-j", "-4", "addr", "show"])
    for dev in json.loads(proc.stdout or "[]"):
        if dev.get("ifname") == net.bridge:
            continue
        for addr in dev.get("addr_info", []):
            try:
                iface = ipaddress.IPv4Interface(f"{addr['local']}/{addr['prefixlen']}")
            except (KeyError, ValueError):
                continue
            if iface.network.overlaps(net.network):
                return f"{dev['ifname']} ({iface})"
    return None


def ensure_bridge(net: LabNet) -> None:
    taken = _subnet_taken_by(net)
    if taken:
        raise LabError(
            f"subnet {net.network} is already used on this machine by {taken}: "
            "choose another pdic_network in the lab inventory"
        )
    if _run(["ip", "link", "show", net.bridge], check=False).returncode != 0:
        _run(["ip", "link", "add", net.bridge, "type", "bridge"])
    gw = f"{net.gateway}/{net.network.prefixlen}"
    addrs = _run(["ip", "-4", "-o", "addr", "show", "dev", net.bridge]).stdout
    if gw not in addrs:
        _run(["ip", "addr", "add", gw, "dev", net.bridge])
    _run(["ip", "link", "set", net.bridge, "up"])


def _netns_exists(ns: str) -> bool:
    return Path("/run/netns", ns).exists()


def ensure_host_net(host: Host, net: LabNet) -> None:
    ns, veth = _ns_name(host.name), _veth_name(host.name)
    if not _netns_exists(ns):
        _run(["ip", "netns", "add", ns])
    if _run(["ip", "link", "show", veth], check=False).returncode != 0:
        _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    _run(["ip", "link", "set", veth, "master", net.bridge, "up"])
    inside = ["ip", "netns", "exec", ns]
    cidr = f"{host.address}/{net.network.prefixlen}"
    if cidr not in _run([*inside, "ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout:
        _run([*inside, "ip", "addr", "add", cidr, "dev", "eth0"])
    _run([*inside, "ip", "link", "set", "lo", "up"])
    _run([*inside, "ip", "link", "set", "eth0", "up"])
    # No default route, on purpose: a lab host reaches the lab's subnet (its peers and the
    # proxy on the bridge) and nothing else; anything outside fails at once as unreachable.
    if "default" in _run([*inside, "ip", "-4", "route", "show", "default"]).stdout:
        _run([*inside, "ip", "route", "del", "default"])


def remove_host_net(name: str) -> None:
    _run(["ip", "link", "del", _veth_name(name)], check=False)
    if _netns_exists(_ns_name(name)):
        _run(["ip", "netns", "del", _ns_name(name)], check=False)


# --------------------------------------------------------------------------------------------
# apt-cacher-ng


def ensure_proxy(paths: LabPaths, net: LabNet) -> None:
    """apt-cacher-ng on the bridge address, with its backend set to this machine's mirror."""
    pidfile = paths.acng / "acng.pid"
    if _pid_alive(_read_pid(pidfile)) and _port_open(net.gateway, ACNG_PORT):
        return
    conf = paths.acng / "conf"
    cache = paths.cache / "apt-cacher-ng"  # survives destroy: packages are downloaded once
    logs = paths.acng / "log"
    for d in (conf, cache, logs):
        d.mkdir(parents=True, exist_ok=True)
    system_conf = Path("/etc/apt-cacher-ng")
    for item in system_conf.iterdir():
        if item.is_file() and item.name != "acng.conf":
            shutil.copy2(item, conf / item.name)
    (conf / "backends_debian").write_text(host_mirror() + "/\n")
    (conf / "acng.conf").write_text(
        "# Written by pdic lab: apt-cacher-ng for the lab bridge only.\n"
        f"CacheDir: {cache}\nLogDir: {logs}\nSupportDir: /usr/lib/apt-cacher-ng\n"
        f"Port: {ACNG_PORT}\nBindAddress: {net.gateway}\nPidFile: {pidfile}\n"
        "Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian\n"
        "Remap-secdeb: security.debian.org security.debian.org/debian-security "
        "deb.debian.org/debian-security /debian-security ; deb.debian.org/debian-security\n"
        "ReportPage: acng-report.html\nExThreshold: 4\nForeGround: 1\n"
        "NetworkTimeout: 30\nPassThroughPattern: ^$\n"
    )
    log = (logs / "stdout.log").open("ab")
    proc = subprocess.Popen(
        ["apt-cacher-ng", "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pidfile.write_text(f"{proc.pid}\n")
    if not _wait_port(net.gateway, ACNG_PORT, 15):
        raise LabError(f"apt-cacher-ng did not listen on {net.gateway}:{ACNG_PORT}; see {logs}")


def stop_proxy(paths: LabPaths) -> None:
    pidfile = paths.acng / "acng.pid"
    pid = _read_pid(pidfile)
    if _pid_alive(pid):
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        _wait_gone(pid, 10)
    pidfile.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# hosts


def _port_open(address: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            if port == 22:
                sock.settimeout(2)
                return sock.recv(4).startswith(b"SSH-")
            return True
    except OSError:
        return False


def _wait_port(address: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(address, port):
            return True
        time.sleep(0.2)
    return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.1)
    return not _pid_alive(pid)


def _prepare_overlay(paths: LabPaths, host: Host) -> Path:
    """The host's overlay upper dir, with root's authorized_keys from this lab's key."""
    hdir = paths.host(host.name)
    upper = hdir / "upper"
    upper.mkdir(parents=True, exist_ok=True)
    ssh = upper / "root" / ".ssh"
    if not (upper / "root").exists():
        (upper / "root").mkdir(mode=0o700)
    ssh.mkdir(mode=0o700, exist_ok=True)
    hostname = upper / "etc" / "hostname"
    if not hostname.exists():
        hostname.parent.mkdir(parents=True, exist_ok=True)
        hostname.write_text(f"{host.name}\n")
    pub = paths.key.with_suffix(".pub").read_text()
    auth = ssh / "authorized_keys"
    if not auth.exists() or pub not in auth.read_text():
        auth.write_text(pub)
        auth.chmod(0o600)
    return hdir


def host_cgroups(name: str, proc_cgroup: Path = Path("/proc/self/cgroup")) -> list[Path]:
    """A cgroup directory for one lab host under this process's cgroup, in each hierarchy
    where systemd keeps its units (cgroup v2, or v1's name=systemd and the hybrid unified)."""
    mounts = {"": Path("/sys/fs/cgroup/unified"), "name=systemd": Path("/sys/fs/cgroup/systemd")}
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():  # pure cgroup v2
        mounts = {"": Path("/sys/fs/cgroup")}
    out = []
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        base = mounts.get(controllers)
        if base is not None and base.is_dir():
            out.append(base / path.lstrip("/") / "pdic-lab" / name)
    return out


def set_link(name: str, up: bool) -> None:
    """Set one lab host's link on the bridge up or down: the host drops off the network as a
    machine whose cable is pulled, everything on it still running (a fault the tests inject)."""
    _run(["ip", "link", "set", _veth_name(name), "up" if up else "down"])


def freeze_host(name: str, frozen: bool, cgroups: list[Path] | None = None) -> list[Path]:
    """Freeze (or thaw) every process of one lab host through cgroup v2's ``cgroup.freeze`` in
    its own cgroup: a machine that hangs, its network stack still up (a fault the tests
    inject). Returns the cgroups written; LabError when the host has none that can freeze."""
    written = []
    for cgroup in cgroups if cgroups is not None else host_cgroups(name):
        control = cgroup / "cgroup.freeze"
        if control.exists():
            control.write_text("1\n" if frozen else "0\n")
            written.append(cgroup)
    if not written:
        raise LabError(f"{name}: no cgroup of this host can be frozen (cgroup v2 needed)")
    deadline = time.monotonic() + 10
    want = f"frozen {int(frozen)}"
    while not all(want in (c / "cgroup.events").read_text().splitlines() for c in written):
        if time.monotonic() > deadline:
            raise LabError(f"{name}: still not {'frozen' if frozen else 'thawed'} after 10 s")
        time.sleep(0.05)
    return written


def nspawn_pid(paths: LabPaths, name: str) -> int | None:
    pid = _read_pid(paths.host(name) / "nspawn.pid")
    return pid if _pid_alive(pid) else None


def start_host(paths: LabPaths, host: Host) -> bool:
    """Boot one host (no-op when it runs); True when it was started now."""
    if nspawn_pid(paths, host.name):
        return False
    hdir = _prepare_overlay(paths, host)
    base = str(paths.base)
    argv = [
        f"--directory={base}",
        "--read-only",
        f"--overlay={base}:{hdir / 'upper'}:/",
        "--boot",
        "--register=no",
        "--keep-unit",
        "--console=read-only",
        f"--network-namespace-path=/run/netns/{_ns_name(host.name)}",
        # Its own firewall (nftables) in its own network namespace, as a machine has.
        "--capability=CAP_NET_ADMIN",
        # The host's resolver and time zone are not the lab's: bootstrap sets the time zone,
        # and the lab has no DNS (names come from /etc/hosts).
        "--resolv-conf=off",
        "--timezone=off",
        f"--machine={host.name}",
        f"--hostname={host.name}",
    ]
    console = (hdir / "console.log").open("ab")
    env = {**os.environ, "PDIC_LAB_CGROUPS": " ".join(map(str, host_cgroups(host.name)))}
    proc = subprocess.Popen(
        ["bash", "-c", SUPERVISOR.format(reboot=EXIT_REBOOT), "pdic-lab-supervisor", *argv],
        cwd=hdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=console,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    (hdir / "supervisor.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 10
    while not nspawn_pid(paths, host.name):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise LabError(f"{host.name}: systemd-nspawn did not start; see {hdir / 'console.log'}")
        time.sleep(0.05)
    return True


def container_leader(nspawn: int) -> int | None:
    """PID (on this machine) of the container's init: the systemd child of systemd-nspawn."""
    children = Path(f"/proc/{nspawn}/task/{nspawn}/children")
    try:
        pids = [int(p) for p in children.read_text().split()]
    except OSError:
        return None
    for pid in pids:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                return pid
    return pids[0] if pids else None


def host_exec(
    paths: LabPaths, name: str, argv: list[str], timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run a command inside a running host through nsenter (no ssh, no machined needed)."""
    pid = nspawn_pid(paths, name)
    leader = container_leader(pid) if pid else None
    if not leader:
        raise LabError(f"{name}: not running (pdic lab up)")
    return subprocess.run(
        ["nsenter", "-t", str(leader), "-a", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stop_host(paths: LabPaths, name: str, timeout: float = 30) -> bool:
    """Power a host off with SIGTERM (SIGKILL after ``timeout``); True when it was running."""
    hdir = paths.host(name)
    sup = _read_pid(hdir / "supervisor.pid")
    pid = nspawn_pid(paths, name)
    was_running = pid is not None
    if pid:
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5)
    if _pid_alive(sup):
        assert sup is not None
        _wait_gone(sup, 5)
        if _pid_alive(sup):
            os.kill(sup, signal.SIGTERM)
    for f in ("nspawn.pid", "supervisor.pid"):
        (hdir / f).unlink(missing_ok=True)
    for cgroup in host_cgroups(name):
        with contextlib.suppress(OSError):  # left to the next boot if the container kept some
            cgroup.rmdir()
    remove_host_net(name)
    return was_running


# --------------------------------------------------------------------------------------------
# the lab as a whole


def _lock_holder(text: str) -> str:
    try:
        info = json.loads(text)
        return f"pid {info['pid']} in {info['cwd']} ({info['purpose']}, since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "another process (no details)"


@contextlib.contextmanager
def lab_lock(purpose: str, lock: Path | None = None) -> Iterator[None]:
    """Hold the machine's lab lock for ``purpose``; LabError naming the holder if it is taken.

    A process whose ancestor holds the lock (``PDIC_LAB_LOCK_HOLDER``, checked against the
    lock file) goes on without taking it again.
    """
    lock = lock or LAB_LOCK
    holder = os.environ.get(HOLDER_ENV)
    if holder and lock.exists():
        with contextlib.suppress(ValueError, KeyError, TypeError, OSError):
            if str(json.loads(lock.read_text())["pid"]) == holder:
                yield
                return
    with open(lock, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise LabError(
                f"the lab is in use by {_lock_holder(handle.read())}: one lab per machine; "
                f"wait for it to finish ({lock})"
            ) from None
        handle.seek(0)
        handle.truncate()
        info = {
            "pid": os.getpid(),
            "cwd": os.getcwd(),
            "purpose": purpose,
            "since": time.strftime("%H:%M:%S"),
        }
        handle.write(json.dumps(info))
        handle.flush()
        previous = os.environ.get(HOLDER_ENV)
        os.environ[HOLDER_ENV] = str(os.getpid())
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(HOLDER_ENV, None)
            else:
                os.environ[HOLDER_ENV] = previous
            handle.seek(0)
            handle.truncate()
            handle.flush()


@dataclass
class Lab:
    """The lab of one inventory."""

    inventory: Inventory
    paths: LabPaths

    @property
    def net(self) -> LabNet:
        return LabNet.from_inventory(self.inventory)

    def hosts(self, limit: str | None = None) -> list[Host]:
        hosts = self.inventory.select(limit)
        net = self.net
        for h in hosts:
            try:
                addr = ipaddress.IPv4Address(h.address)
            except ValueError as exc:
                raise LabError(
                    f"{h.name}: ansible_host {h.address!r} is not an IPv4 address"
                ) from exc
            reserved = {net.network.network_address, net.network.broadcast_address}
            if addr not in net.network or str(addr) == net.gateway or addr in reserved:
                raise LabError(
                    f"{h.name}: ansible_host {addr} must be inside {net.network}, not its "
                    f"network or broadcast address, and not the bridge address {net.gateway}"
                )
        return hosts

    def up(
        self, limit: str | None = None, log: Callable[[str], None] = print, timeout: float = 90
    ) -> list[str]:
        """Bring the lab up (idempotent); returns the names of hosts started now."""
        self.hosts(limit)  # a bad --limit is refused before the machine's lab lock is taken
        require_root_and_tools()
        with lab_lock("pdic lab up"):
            return self._up(limit, log, timeout)

    def _up(self, limit: str | None, log: Callable[[str], None], timeout: float) -> list[str]:
        hosts = self.hosts(limit)
        ensure_key(self.paths)
        ensure_vault_password(self.paths)
        ensure_base(self.paths, log)
        net = self.net
        ensure_bridge(net)
        ensure_proxy(self.paths, net)
        started = []
        for h in hosts:
            ensure_host_net(h, net)
            if start_host(self.paths, h):
                started.append(h.name)
        if started:
            log(f"booting {len(started)} host(s): {', '.join(started)}")
        deadline = time.monotonic() + timeout
        for h in hosts:
            while not _port_open(h.address, 22):
                if not nspawn_pid(self.paths, h.name):
                    console = self.paths.host(h.name) / "console.log"
                    raise LabError(f"{h.name}: the container exited while booting; see {console}")
                if time.monotonic() > deadline:
                    raise LabError(
                        f"{h.name}: ssh on {h.address}:22 not ready after {timeout:.0f} s"
                    )
                time.sleep(0.2)
        return started

    def down(self, limit: str | None = None) -> list[str]:
        """Power off hosts cleanly; the proxy and bridge go when the whole lab is down."""
        self.hosts(limit)  # a bad --limit is refused before the machine's lab lock is taken
        require_root_and_tools(("ip",))
        with lab_lock("pdic lab down"):
            return self._down(limit)

    def _down(self, limit: str | None) -> list[str]:
        stopped = [h.name for h in self.hosts(limit) if stop_host(self.paths, h.name)]
        if limit is None:
            stop_proxy(self.paths)
            net = self.net
            _run(["ip", "link", "del", net.bridge], check=False)
        return stopped

    def destroy(self) -> None:
        """Stop everything and delete the lab's state (the cached base image and packages stay).

        The inventory's generated vault file (``pdic secrets ensure``) goes too when its vault
        password lives in the lab's state: without that password nobody could read it again,
        and the next deploy makes new secrets for the new hosts.
        """
        require_root_and_tools(("ip",))
        with lab_lock("pdic lab destroy"):
            self._destroy()

    def _destroy(self) -> None:
        self._down(None)
        password = self.inventory.vars.get("pdic_vault_password_file")
        if password and Path(str(password)).is_relative_to(self.paths.state):
            from pdic.secrets import VAULT_FILE

            (self.inventory.path / VAULT_FILE).unlink(missing_ok=True)
        if self.paths.state.exists():
            shutil.rmtree(self.paths.state)

    def status(self, limit: str | None = None) -> list[HostState]:
        out = []
        for h in self.hosts(limit):
            pid = nspawn_pid(self.paths, h.name)
            if not pid:
                out.append(HostState(h.name, h.address, False, "stopped", None))
                continue
            try:
                proc = host_exec(self.paths, h.name, ["systemctl", "is-system-running"], timeout=10)
                system = proc.stdout.strip() or proc.stderr.strip() or "unknown"
            except (LabError, subprocess.TimeoutExpired):
                system = "unreachable"
            out.append(HostState(h.name, h.address, True, system, pid))
        return out

    def ssh_argv(
        self, name: str, user: str | None = None, command: list[str] | None = None
    ) -> list[str]:
        """The ssh command line that logs into a lab host (ops account if it exists, else root).

        An administrator of the inventory (pdic_admins) logs in with the lab administrator's
        key, and ssh asks their TOTP code (``pdic admin totp NAME`` shows it)."""
        host = self.inventory.host(name)
        if user is not None and not UNIX_USER.fullmatch(user):  # never an ssh option (-o...)
            raise LabError(f"--user: {user!r} is not a user name (lowercase letters, digits, _ -)")
        admins = {a.name for a in sshaccess.admins(self.inventory)}
        base = [
            "ssh",
            "-i",
            str(self.paths.admin_key if user in admins else self.paths.key),
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            f"UserKnownHostsFile={self.paths.known_hosts}",
            "-o",
            "LogLevel=ERROR",
        ]
        if user is None:
            ops = str(self.inventory.vars.get("pdic_ops_user", "root"))
            probe = subprocess.run(
                [
                    *base,
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "ConnectTimeout=5",
                    f"{ops}@{host.address}",
                    "true",
                ],
                capture_output=True,
                check=False,
            )
            user = ops if probe.returncode == 0 else "root"
        return [*base, f"{user}@{host.address}", *(command or [])]
