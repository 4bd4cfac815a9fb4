"""What the hosts say about one agency: ``pdic agency show``'s live section.

Six reads, run side by side, each bounded by a timeout:

- ``sites``: an HTTPS request to each portal host for each of the agency's sites (the host's
  address, the site's name in SNI and ``Host``), its certificate verified against the centre's
  root, read over SSH from the CA host (``pki_ca_publish_dir``/root.crt);
- ``certificates``: the agency's site and organisation certificates read from the hosts that
  hold them, revocation from the CA host's CRLs, as ``pdic cert list --agency`` reads them;
- ``mailboxes``: the mailboxes the mail host that keeps each of the agency's domains has
  (``pdic-mail-sync list``), against the inventory's;
- ``dkim``: the DKIM key of each domain of the agency's own on its mail host, and the DNS
  records to publish (``pdic mail dns-records``' text);
- ``probes``: Prometheus' blackbox targets of the agency's sites and their health;
- ``alerts``: the alerts Prometheus has pending or firing whose ``agency`` label is the agency
  or whose ``site`` label is one of its sites.

A host that does not answer in time (or refuses us) makes its part ``unknown (host X did not
answer: why)``; nothing here raises for a host. The transports are injected (:class:`Readers`):
an SSH host factory (:func:`pdic.connect.testinfra_host` with short deadlines), a TLS request
and a Prometheus fetch, so tests replay recorded answers. It changes nothing anywhere.
"""

from __future__ import annotations

import datetime as dt
import functools
import socket
import ssl
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pdic.agency.index import Agency
from pdic.inventory import Host, Inventory
from pdic.mail import diff as mail_diff
from pdic.mail.model import domain_hosts
from pdic.mail.records import dns_records
from pdic.monitoring.status import Fetch, http_fetch, monitoring_url
from pdic.pki import register

DEFAULT_TIMEOUT = 10.0
PROMETHEUS_PORT = 9090
HTTPS_PORT = 443
Connect = Callable[[Host], Any]


@dataclass(frozen=True)
class Answer:
    """One HTTPS request's outcome: the status line's code and the certificate's notAfter."""

    status: int
    not_after: str = ""


class Unverified(Exception):
    """The server answered with a certificate that does not verify against the root."""


Https = Callable[[str, int, str, bytes, float], Answer]
"""(address, port, server name, root PEM, timeout) -> Answer; OSError when the host does not
answer, :class:`Unverified` when its certificate does not verify."""


@dataclass(frozen=True)
class Readers:
    connect: Connect
    https: Https
    fetch: Fetch | None
    timeout: float = DEFAULT_TIMEOUT
    now: dt.datetime | None = None


def readers(inventory: Inventory, timeout: float = DEFAULT_TIMEOUT) -> Readers:
    """The real transports: SSH through pdic's connect layer, TLS, Prometheus' HTTP API."""
    from pdic.connect import testinfra_host

    url = monitoring_url(inventory, PROMETHEUS_PORT)
    return Readers(
        connect=functools.partial(
            testinfra_host, timeout=max(1, int(timeout)), deadline=2 * timeout
        ),
        https=https_get,
        fetch=None if url is None else http_fetch(url, timeout),
        timeout=timeout,
    )


def https_get(address: str, port: int, name: str, root: bytes, timeout: float) -> Answer:
    """``GET /`` of ``name`` from ``address``, the certificate verified against ``root``."""
    context = ssl.create_default_context(cadata=root.decode("ascii"))
    with socket.create_connection((address, port), timeout=timeout) as raw:
        try:
            tls = context.wrap_socket(raw, server_hostname=name)
        except ssl.SSLCertVerificationError as exc:
            raise Unverified(exc.verify_message or str(exc)) from None
        with tls:
            request = (
                f"GET / HTTP/1.1\r\nHost: {name}\r\nUser-Agent: pdic\r\nConnection: close\r\n\r\n"
            )
            tls.sendall(request.encode("ascii"))
            head = tls.recv(4096).decode("latin-1")
            cert = tls.getpeercert() or {}
    parts = head.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise OSError(f"not an HTTP answer: {head[:60]!r}")
    return Answer(int(parts[1]), str(cert.get("notAfter", "")))


def unknown(host: str, why: str) -> str:
    why = " ".join(why.split())
    prefix = f"{host}: "
    if why.startswith(prefix):  # the connect layer names the host first: said once
        why = why[len(prefix) :]
    else:
        kind, sep, rest = why.partition(": ")
        if sep and rest.startswith(prefix) and " " not in kind:
            why = f"{kind}: {rest[len(prefix) :]}"
    return (
        f"unknown (host {host} did not answer: {why})"
        if why
        else f"unknown (host {host} did not answer)"
    )


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


# -- the reads ----------------------------------------------------------------------------------


def read(inventory: Inventory, agency: Agency, readers_: Readers) -> dict[str, Any]:
    """The live section of ``agency``: every read at once, each one's result or ``unknown``."""
    now = readers_.now or dt.datetime.now(dt.UTC)
    parts: dict[str, Callable[[], Any]] = {
        "sites": lambda: sites(inventory, agency, readers_),
        "certificates": lambda: certificates(inventory, agency, readers_.connect, now),
        "mailboxes": lambda: mailboxes(inventory, agency, readers_.connect),
        "dkim": lambda: dkim(inventory, agency, readers_.connect),
        "probes": lambda: probes(inventory, agency, readers_.fetch),
        "alerts": lambda: alerts(inventory, agency, readers_.fetch),
    }
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        futures = {name: pool.submit(run) for name, run in parts.items()}
    out: dict[str, Any] = {}
    for name, future in futures.items():
        try:
            out[name] = future.result()
        except Exception as exc:  # a read that fails in a way not foreseen: said, not raised
            out[name] = f"unknown ({_error(exc)})"
    records = out["dkim"].pop("records", "") if isinstance(out["dkim"], dict) else ""
    if isinstance(out["dkim"], dict):
        out["dkim"] = out["dkim"]["domains"]
    out["dns_records"] = records
    return out


def root_certificate(inventory: Inventory, connect: Connect) -> tuple[bytes, str]:
    """The centre's root (PEM) from the CA host, or ``b""`` and why it could not be read."""
    cas = inventory.groups.get(register.CA_GROUP, ())
    if not cas:
        return b"", f"no host in group {register.CA_GROUP}: no root to verify against"
    host = inventory.hosts[cas[0]]
    publish = str(host.get("pki_ca_publish_dir") or register.DEFAULT_PUBLISH_DIR).rstrip("/")
    try:
        result = connect(host).run("cat -- %s", f"{publish}/root.crt")
    except Exception as exc:
        return b"", unknown(host.name, _error(exc))
    if result.rc != 0 or "BEGIN CERTIFICATE" not in result.stdout:
        why = (result.stderr or result.stdout).strip()[:200] or f"exit code {result.rc}"
        return b"", f"unknown (no root on {host.name}: {why})"
    return str(result.stdout).encode("ascii", "replace"), ""


def sites(inventory: Inventory, agency: Agency, readers_: Readers) -> list[dict[str, Any]]:
    """Each site on each portal host: answering, with a certificate that verifies."""
    if not agency.sites:
        return []
    root, why = root_certificate(inventory, readers_.connect)
    portal = [inventory.hosts[n] for n in inventory.groups.get("portal", ())]
    out = []
    for site in agency.sites:
        name = str(site.get("hostname"))
        for host in portal:
            state = _site_state(host, name, root, readers_) if root else why
            out.append(
                {"site": site.get("name"), "hostname": name, "host": host.name, "state": state}
            )
    return out


def _site_state(host: Host, name: str, root: bytes, readers_: Readers) -> str:
    try:
        answer = readers_.https(host.address, HTTPS_PORT, name, root, readers_.timeout)
    except Unverified as exc:
        return f"refused: its certificate for {name} does not verify ({exc})"
    except (OSError, ssl.SSLError) as exc:
        return unknown(host.name, _error(exc))
    expiry = f", expires {answer.not_after}" if answer.not_after else ""
    return f"answers {answer.status}, certificate verified{expiry}"


def certificates(
    inventory: Inventory, agency: Agency, connect: Connect, now: dt.datetime
) -> list[dict[str, Any]]:
    """The agency's certificates as the hosts hold them, and whether the CA revoked them."""
    holders = register.agency_hosts(inventory, agency.id)
    if not holders:
        return []
    found = register.collect(inventory, ",".join(holders), connect, now)
    cas = set(inventory.groups.get(register.CA_GROUP, ()))
    ca_errors = {**found.crl_errors, **{h: e for h, e in found.errors.items() if h in cas}}
    ca_down = sorted(ca_errors)
    out: list[dict[str, Any]] = []
    for entry in register.of_agency(found.entries, agency.id):
        if entry.revoked is None:
            revoked = unknown(ca_down[0], ca_errors[ca_down[0]]) if ca_down else "unknown"
        else:
            revoked = "yes" if entry.revoked else "no"
        out.append(
            {
                "host": entry.host,
                "path": entry.path,
                "not_after": entry.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "days_left": entry.days_left,
                "revoked": revoked,
            }
        )
    for host in holders:
        if host in found.errors:
            out.append({"host": host, "state": unknown(host, found.errors[host])})
    return out


def _hosts_of(inventory: Inventory, agency: Agency) -> dict[str, list[str]]:
    """Mail host -> the domains of the agency's mailboxes it keeps."""
    mail = inventory.groups.get("mail", ())
    if not mail:
        return {}
    owners = domain_hosts(inventory.vars.get("mail_domains"), mail[0])
    out: dict[str, list[str]] = {}
    for box in agency.mailboxes:
        domain = str(box.get("address", "")).lower().rpartition("@")[2]
        host = owners.get(domain)
        if host is not None and domain not in out.get(host, []):
            out.setdefault(host, []).append(domain)
    return out


def mailboxes(inventory: Inventory, agency: Agency, connect: Connect) -> list[dict[str, Any]]:
    """On each mail host concerned: how many of the agency's mailboxes it has, and which not."""
    out: list[dict[str, Any]] = []
    for name, domains in _hosts_of(inventory, agency).items():
        wanted = {
            str(b["address"]).lower(): str(b.get("state") or "active")
            for b in agency.mailboxes
            if str(b.get("address", "")).lower().rpartition("@")[2] in domains
        }
        current, error = mail_diff.read_current(inventory.hosts[name], connect)
        if error:
            out.append({"host": name, "state": unknown(name, error)})
            continue
        present = [a for a in wanted if a in current]
        missing = sorted(a for a in wanted if a not in current)
        disabled = sorted(a for a in present if current[a].state != "active")
        state = f"{len(present)} of {len(wanted)} mailboxes on the host"
        if disabled:
            state += f", {len(disabled)} disabled"
        out.append({"host": name, "state": state, "missing": missing})
    return out


def dkim(inventory: Inventory, agency: Agency, connect: Connect) -> dict[str, Any]:
    """The DKIM key of each of the agency's own domains and the zone text to publish."""
    domains = [str(d.get("name", "")).lower() for d in agency.mail_domains if d.get("name")]
    mail = inventory.groups.get("mail", ())
    if not domains or not mail:
        return {"domains": [], "records": ""}
    owners = domain_hosts(inventory.vars.get("mail_domains"), mail[0])
    states = []
    texts = []
    for domain in domains:
        host = owners.get(domain, mail[0])
        found = dns_records(inventory, connect, domain)
        if found.errors:
            states.append(
                {"domain": domain, "host": host, "state": unknown(host, found.errors[host])}
            )
            continue
        texts.append(found.text)
        state = "no key on the host yet" if domain in found.missing else "key on the host"
        states.append({"domain": domain, "host": host, "state": state})
    return {"domains": states, "records": "\n".join(texts)}


def _unreachable(inventory: Inventory, why: str) -> str:
    monitoring = inventory.groups.get("monitoring", ())
    return unknown(monitoring[0], why) if monitoring else f"unknown ({why})"


def probes(inventory: Inventory, agency: Agency, fetch: Fetch | None) -> Any:
    """Prometheus' blackbox targets of the agency's sites, with their health."""
    names = {str(s.get("name")) for s in agency.sites}
    if not names:
        return []
    if fetch is None:
        return "unknown (no monitoring host)"
    try:
        data = fetch("/api/v1/targets", {"state": "active"})
    except Exception as exc:
        return _unreachable(inventory, str(exc))
    out = []
    for target in (data or {}).get("activeTargets", []):
        labels = target.get("labels") or {}
        if labels.get("site") in names:
            health = str(target.get("health", "unknown"))
            error = str(target.get("lastError") or "")
            out.append(
                {
                    "site": labels.get("site"),
                    "job": labels.get("job", ""),
                    "target": str(target.get("scrapeUrl") or labels.get("instance", "")),
                    "state": health + (f" ({error})" if error else ""),
                }
            )
    for name in sorted(names - {str(p["site"]) for p in out}):
        out.append({"site": name, "job": "", "target": "", "state": "no probe"})
    return out


def mine(labels: Mapping[str, Any], agency: Agency) -> bool:
    """Whether an alert with these labels is about ``agency``."""
    sites = {str(s.get("name")) for s in agency.sites}
    return labels.get("agency") == agency.id or (bool(sites) and labels.get("site") in sites)


def alerts(inventory: Inventory, agency: Agency, fetch: Fetch | None) -> Any:
    """The alerts pending or firing about the agency (its agency or site label)."""
    if fetch is None:
        return "unknown (no monitoring host)"
    try:
        data = fetch("/api/v1/alerts", {})
    except Exception as exc:
        return _unreachable(inventory, str(exc))
    out = []
    for alert in (data or {}).get("alerts", []):
        labels = alert.get("labels") or {}
        if not mine(labels, agency):
            continue
        out.append(
            {
                "alert": labels.get("alertname", "?"),
                "severity": labels.get("severity", ""),
                "state": alert.get("state", ""),
                "summary": " ".join(
                    str((alert.get("annotations") or {}).get("summary", "")).split()
                ),
            }
        )
    return out
