"""Run scripts/setup and the tests in a pristine Debian 12 root filesystem: the fresh-machine proof.

``scripts/test --fresh [PYTEST ARGS]`` calls this (as root, after scripts/setup here). Anything
the tests take from this machine instead of from the project's own files, or from what
scripts/setup installs, fails there:

- the root is the lab's cached debootstrap base image (minbase, built once by ``pdic lab up`` or
  here), with a throw-away overlay on top, so nothing installed on this machine is in it;
- the project goes in as a fresh clone would have it plus the working tree's changes (``git
  ls-files``: tracked and untracked files that are not ignored, so no ``.venv``, no vault, no
  build output);
- it runs in its own network namespace on the lab bridge, like a lab host: Debian's packages
  come through the lab's apt-cacher-ng, and nothing else is reachable; Python packages come from
  a wheel cache filled here first from this machine's ``.venv`` (``pip freeze``), since the
  container cannot reach the package index;
- the container is entered (not booted): no maintainer script starts a daemon in it
  (``policy-rc.d``), as no init runs there.

The default is the lint and every test but the lab's (``-m "not lab"``; the lab's own tests
need this machine's lab, which the container cannot run); extra arguments replace the pytest
arguments. It holds the lab lock while it runs (it uses the lab's bridge and proxy) and leaves
the proxy and bridge as it found them. Exit status: the container's.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pdic.errors import PdicError
from pdic.inventory import Host, load_inventory
from pdic.lab import (
    ACNG_PORT,
    LabNet,
    LabPaths,
    _port_open,
    ensure_base,
    ensure_bridge,
    ensure_host_net,
    ensure_proxy,
    lab_lock,
    remove_host_net,
    require_root_and_tools,
    stop_proxy,
)

ROOT = Path(__file__).resolve().parents[1]
NAME = "pdic-fresh"
INSIDE = "/root/pdic"  # where the project is in the container
WHEELS_INSIDE = "/var/cache/pdic-wheels"
# Build requirements of pdic itself (pyproject.toml's build-system) and the venv's own pip.
BUILD = ["pip", "setuptools>=68", "wheel"]


def log(message: str) -> None:
    print(f"fresh: {message}", flush=True)


def fill_wheels(cache: Path) -> None:
    """Every package this machine's .venv holds (pdic excluded), as wheels, in ``cache``."""
    pip = ROOT / ".venv" / "bin" / "pip"
    frozen = subprocess.run(
        [str(pip), "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requirements = [line for line in frozen.splitlines() if line and not line.startswith("#")]
    cache.mkdir(parents=True, exist_ok=True)
    have = {p.name.split("-")[0].lower().replace("_", "-") for p in cache.glob("*.whl")}
    log(f"wheel cache {cache}: {len(requirements)} packages from .venv ({len(have)} names there)")
    subprocess.run(
        [
            str(pip),
            "wheel",
            "-q",
            "--find-links",
            str(cache),
            "-w",
            str(cache),
            *requirements,
            *BUILD,
        ],
        check=True,
    )


def project_files() -> list[str]:
    """The files a fresh clone would have, with the working tree's changes (not ignored ones)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    # lexists: symbolic links that lead nowhere are files of the project too (corpus cases).
    return [f for f in out.decode().split("\0") if f and os.path.lexists(ROOT / f)]


def prepare_upper(upper: Path, proxy: str) -> None:
    """The container's writable layer: the project, the apt proxy, no daemon starts."""
    if upper.exists():
        shutil.rmtree(upper)
    (upper / "root").mkdir(parents=True, mode=0o700)
    project = upper / INSIDE.lstrip("/")
    project.mkdir()
    for name in project_files():
        source, target = ROOT / name, project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    apt = upper / "etc/apt/apt.conf.d"
    apt.mkdir(parents=True)
    (apt / "01pdic-proxy").write_text(
        "# The fresh-machine proof: packages come through the lab's proxy.\n"
        f'Acquire::http::Proxy "{proxy}";\n'
    )
    sbin = upper / "usr/sbin"
    sbin.mkdir(parents=True)
    (sbin / "policy-rc.d").write_text("#!/bin/sh\n# No init runs here: start nothing.\nexit 101\n")
    (sbin / "policy-rc.d").chmod(0o755)


def free_address(net: LabNet, taken: set[str]) -> str:
    """The highest address of the lab's subnet that no inventory host has."""
    for address in reversed(list(net.network.hosts())):
        if str(address) not in taken and str(address) != net.gateway:
            return str(address)
    raise PdicError(f"no free address in {net.network} for the fresh-machine container")


def run(pytest_args: list[str]) -> int:
    require_root_and_tools()
    inv = load_inventory(ROOT / "inventory" / "lab")
    net = LabNet.from_inventory(inv)
    paths = LabPaths.default()
    address = free_address(net, {h.address for h in inv.hosts.values()})
    host = Host(name=NAME, address=address, groups=(), vars={})
    state = paths.state / "fresh"
    upper = state / "upper"
    wheels = paths.cache / "wheels"
    with lab_lock("the fresh-machine proof (scripts/test --fresh)"):
        fill_wheels(wheels)
        if ensure_base(paths, log):
            log(f"built the base image {paths.base}")
        proxy_was_up = _port_open(net.gateway, ACNG_PORT)
        ensure_bridge(net)
        ensure_proxy(paths, net)
        ensure_host_net(host, net)
        prepare_upper(upper, f"http://{net.gateway}:{ACNG_PORT}")
        test = " ".join(["./scripts/test", *(shlex.quote(a) for a in pytest_args)])
        argv = [
            "systemd-nspawn",
            f"--directory={paths.base}",
            "--read-only",
            f"--overlay={paths.base}:{upper}:/",
            "--register=no",
            "--keep-unit",
            "--as-pid2",
            "--console=pipe",
            f"--network-namespace-path=/run/netns/pdiclab-{NAME}",
            "--resolv-conf=off",
            "--timezone=off",
            f"--machine={NAME}",
            f"--hostname={NAME}",
            f"--bind-ro={wheels}:{WHEELS_INSIDE}",
            f"--chdir={INSIDE}",
            "--setenv=CI=true",
            "--setenv=PIP_NO_INDEX=1",
            f"--setenv=PIP_FIND_LINKS={WHEELS_INSIDE}",
            "--setenv=LANG=C.UTF-8",
            "/bin/bash",
            "-c",
            test,
        ]
        log(f"running in a pristine Debian 12 root ({address} on {net.bridge}): {test}")
        started = time.monotonic()
        try:
            code = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL).returncode
        finally:
            remove_host_net(NAME)
            if not proxy_was_up:
                stop_proxy(paths)
        minutes = (time.monotonic() - started) / 60
        log(f"{'passed' if code == 0 else f'FAILED (exit code {code})'} in {minutes:.1f} min")
        if code == 0:
            shutil.rmtree(upper, ignore_errors=True)
        else:
            log(f"the container's files stay in {upper} (removed by the next run)")
        return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    pytest_args = args.pytest_args or ["-m", "not lab"]
    if os.geteuid() != 0:
        print("fresh: needs root (a container on the lab bridge)", file=sys.stderr)
        return 2
    try:
        return run(pytest_args)
    except PdicError as exc:
        print(f"fresh: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
