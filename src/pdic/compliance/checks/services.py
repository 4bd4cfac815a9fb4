"""Service checks: unneeded software, sandboxed units, TLS versions and certificates, mail relay,
PostgreSQL, and anti-virus (clamd answering with its signatures, the mail filter rejecting
malware, the daily scan of upload storage).

pdic's own systemd units are rated by ``systemd-analyze security`` (the exposure score, 0.0 to
10.0, that Lynis's BOOT-5264 points at); :func:`parse_exposure` reads what it prints.

TLS is probed from the host itself with ``openssl s_client`` against 127.0.0.1, so the check
sees exactly what the daemon offers, whatever the firewall in front of it. Old protocols are
offered at SECLEVEL=0 by the client, so a refused handshake means the server refused.
PostgreSQL is asked through ``psql`` as the postgres account (``runuser``, root via sudo).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pdic.compliance.checks.base import (
    CheckOutcome,
    HostLike,
    Probe,
    check,
    installed_packages,
    recent_result,
)

UNNEEDED_PACKAGES = (
    "telnetd",
    "inetutils-telnetd",
    "rsh-server",
    "rsh-redone-server",
    "nis",
    "tftpd-hpa",
    "xinetd",
    "vsftpd",
    "talkd",
    "avahi-daemon",
    "cups",
    "slapd",
    "snmpd",
    "rpcbind",
    "xserver-xorg-core",
)
UNNEEDED_UNITS = (
    "avahi-daemon.service",
    "cups.service",
    "rpcbind.service",
    "rpcbind.socket",
    "nfs-server.service",
    "smbd.service",
    "snmpd.service",
    "vsftpd.service",
    "xinetd.service",
    "bluetooth.service",
)


@check("services_no_unneeded_packages")
def services_no_unneeded_packages(
    host: HostLike, *, forbidden: Sequence[str] = UNNEEDED_PACKAGES
) -> CheckOutcome:
    """None of the packages a server of the centre does not need is installed."""
    probe = Probe(host)
    installed = sorted(installed_packages(probe, forbidden))
    return probe.verdict(
        [f"unneeded packages installed: {installed}"] if installed else [],
        "no unneeded package installed",
    )


@check("services_no_unneeded_services")
def services_no_unneeded_services(
    host: HostLike, *, forbidden: Sequence[str] = UNNEEDED_UNITS
) -> CheckOutcome:
    """None of the listed unneeded units is enabled or running."""
    probe = Probe(host)
    enabled = probe.run("systemctl list-unit-files --no-legend --state=enabled").stdout
    active = probe.run("systemctl list-units --no-legend --plain --state=active").stdout
    units = {line.split()[0] for line in (enabled + active).splitlines() if line.split()}
    found = sorted(units & set(forbidden))
    return probe.verdict(
        [f"unneeded units enabled or active: {found}"] if found else [],
        "no unneeded unit enabled or active",
    )


PDIC_UNITS = ("pdic-*.service", "pgbackrest-*.service")
"""The unit files pdic's roles install (Debian's own pgBackRest unit is pgbackrest.service)."""
NOT_PDIC_UNITS = ("pdic-lab-*.service",)
"""Matching names that are not the centre's: ``pdic lab`` puts pdic-lab-sysctl-net.service in
every lab host's base image (it mounts /proc/sys/net writable, which no sandbox allows)."""
LIST_UNIT_FILES = "systemctl list-unit-files --no-legend --no-pager --type=service"
SECURITY = "systemd-analyze security --no-pager"
OVERALL = "Overall exposure level for"
"""What ``systemd-analyze security UNIT`` prints last for each unit (after its table):
``→ Overall exposure level for pdic-exporter.service: 1.5 OK 🙂`` (``->`` and ``:-)`` when the
locale is not UTF-8). The check keeps these lines only (grep), one per unit, as evidence."""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_OVERALL = re.compile(
    rf"{OVERALL} (?P<unit>\S+): (?P<exposure>[0-9]+\.[0-9]) (?P<predicate>[A-Z]+)"
)
_OVERVIEW = re.compile(
    r"(?P<unit>\S+\.service)\s+(?P<exposure>[0-9]+\.[0-9])\s+(?P<predicate>[A-Z]+)\b"
)


@dataclass(frozen=True)
class Exposure:
    """How exposed ``systemd-analyze security`` rates a unit: 0.0 (best) to 10.0, and its word
    (PERFECT, SAFE, OK, MEDIUM, EXPOSED, UNSAFE, DANGEROUS)."""

    score: float
    predicate: str


def parse_exposure(text: str) -> dict[str, Exposure]:
    """Every unit's exposure in what ``systemd-analyze security`` printed, by unit name.

    Reads both forms it prints: the line that ends each unit's table (``→ Overall exposure level
    for UNIT: 3.2 OK``, also with ``--offline=true FILE``) and the overview table that
    ``systemd-analyze security`` prints without units, or after several (``UNIT EXPOSURE
    PREDICATE HAPPY`` header, a row per unit). Colour codes are ignored; other lines (the
    detailed tables, the header) are skipped.
    """
    found: dict[str, Exposure] = {}
    for raw in text.splitlines():
        line = _ANSI.sub("", raw).strip()
        match = _OVERALL.search(line) or _OVERVIEW.match(line)
        if match:
            found[match["unit"]] = Exposure(float(match["exposure"]), match["predicate"])
    return found


def _unit_files(listing: str, exclude: Sequence[str]) -> list[str]:
    """Unit file names of ``systemctl list-unit-files --no-legend`` lines: not those matching
    ``exclude``, nor masked ones (they never run) or transient ones (``systemd-run``, made by
    hand, not installed)."""
    units = []
    for line in listing.splitlines():
        words = line.split()
        if len(words) < 2 or words[1] in ("masked", "transient"):
            continue
        if not any(fnmatch.fnmatchcase(words[0], pattern) for pattern in exclude):
            units.append(words[0])
    return units


def _analysed_as(unit: str) -> str:
    """The name systemd-analyze rates a unit under: a template as its ``test-instance``."""
    return unit.replace("@.", "@test-instance.", 1)


@check("services_units_sandboxed")
def services_units_sandboxed(
    host: HostLike,
    *,
    units: Sequence[str] = PDIC_UNITS,
    exclude: Sequence[str] = NOT_PDIC_UNITS,
    max_exposure: float = 4.0,
) -> CheckOutcome:
    """Every pdic unit on the host is rated at most ``max_exposure`` by systemd-analyze security."""
    probe = Probe(host)
    listing = probe.run(LIST_UNIT_FILES + " " + " ".join(["%s"] * len(units)), *units)
    present = _unit_files(listing.stdout, exclude)
    if not present:
        return probe.not_applicable(f"no unit file matching {' '.join(units)}")
    result = probe.run(
        f"{SECURITY} " + " ".join(["%s"] * len(present)) + f" | grep -F '{OVERALL}'", *present
    )
    rated: Mapping[str, Exposure] = parse_exposure(result.stdout)
    problems, scores = [], []
    for unit in present:
        exposure = rated.get(_analysed_as(unit))
        if exposure is None:
            problems.append(f"{unit}: no exposure level (systemd-analyze could not rate it)")
            continue
        scores.append(f"{unit} {exposure.score:.1f}")
        if exposure.score > max_exposure:
            problems.append(
                f"{unit}: exposure {exposure.score:.1f} {exposure.predicate} > {max_exposure:.1f}"
            )
    return probe.verdict(problems, f"every unit at most {max_exposure:.1f}: {', '.join(scores)}")


def _endpoint(spec: str) -> tuple[str, str | None]:
    """``"443"`` -> ("443", None); ``"587/smtp"`` -> ("587", "smtp") for STARTTLS."""
    port, _, starttls = str(spec).partition("/")
    return port, starttls or None


@check("services_tls_min_version")
def services_tls_min_version(
    host: HostLike,
    *,
    endpoints: Sequence[str] = (),
    refused: Sequence[str] = ("tls1", "tls1_1"),
) -> CheckOutcome:
    """Every TLS endpoint of the host completes TLS 1.2+ and refuses TLS 1.0 and 1.1.

    ``endpoints`` are ``port`` or ``port/starttls-protocol`` (``587/smtp``, ``143/imap``).
    """
    probe = Probe(host)
    if not endpoints:
        return probe.not_applicable("no TLS endpoint listed for this host")
    problems = []
    for spec in endpoints:
        port, starttls = _endpoint(spec)
        extra = f" -starttls {starttls}" if starttls else ""
        base = "openssl s_client -brief -connect %s" + extra
        target = f"127.0.0.1:{port}"
        modern = [probe.run(base + f" -{v} </dev/null", target).rc for v in ("tls1_2", "tls1_3")]
        if 0 not in modern:
            problems.append(f"{spec}: no TLS 1.2 or 1.3 handshake")
            continue
        for version in refused:
            old = probe.run(base + f" -{version} -cipher DEFAULT@SECLEVEL=0 </dev/null", target)
            if old.rc == 0:
                problems.append(f"{spec}: accepts {version.replace('_', '.').upper()}")
    return probe.verdict(problems, f"TLS >= 1.2 only on {list(endpoints)}")


@check("services_certificates_valid")
def services_certificates_valid(
    host: HostLike, *, paths: Sequence[str] = ("/etc/ssl/pdic",), min_days: int = 30
) -> CheckOutcome:
    """Every certificate (``*.crt``) under ``paths`` is valid for at least ``min_days`` more."""
    probe = Probe(host)
    listing = probe.run(
        "find " + " ".join(["%s"] * len(paths)) + " -type f -name '*.crt'", *paths
    ).stdout
    files = sorted(line.strip() for line in listing.splitlines() if line.strip())
    if not files:
        return probe.not_applicable(f"no certificate under {' '.join(paths)}")
    problems = []
    for path in files:
        result = probe.run(
            "openssl x509 -noout -enddate -checkend %s -in %s", min_days * 86400, path
        )
        if result.rc != 0:
            end = result.stdout.strip().splitlines()[0] if result.stdout.strip() else "unreadable"
            problems.append(f"{path}: expires within {min_days} days ({end})")
    return probe.verdict(problems, f"{len(files)} certificates valid > {min_days} days")


def postconf(probe: Probe, *names: str) -> dict[str, str] | None:
    result = probe.run("postconf " + " ".join(["%s"] * len(names)), *names)
    if result.rc != 0:
        return None
    values = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


@check("services_mail_no_open_relay")
def services_mail_no_open_relay(host: HostLike) -> CheckOutcome:
    """Postfix relays only for its own networks and authenticated clients."""
    probe = Probe(host)
    conf = postconf(probe, "mynetworks", "smtpd_relay_restrictions", "smtpd_recipient_restrictions")
    if conf is None:
        return probe.error("postconf failed: Postfix is not installed or not readable")
    problems = []
    restrictions = (
        conf.get("smtpd_relay_restrictions", "")
        + ","
        + conf.get("smtpd_recipient_restrictions", "")
    )
    if "reject_unauth_destination" not in restrictions and "defer_unauth_destination" not in (
        restrictions
    ):
        problems.append("neither relay nor recipient restrictions reject unauthorised destinations")
    networks = conf.get("mynetworks", "").replace(",", " ").split()
    open_nets = [n for n in networks if n.strip("[]").endswith("/0")]
    if open_nets:
        problems.append(f"mynetworks trusts everyone: {open_nets}")
    return probe.verdict(problems, "relay limited to mynetworks and authenticated clients")


@check("services_mail_auth_tls_only")
def services_mail_auth_tls_only(host: HostLike) -> CheckOutcome:
    """Mail passwords only cross TLS: Postfix smtpd_tls_auth_only=yes, Dovecot ssl=required."""
    probe = Probe(host)
    conf = postconf(probe, "smtpd_tls_auth_only")
    problems = []
    if conf is None:
        return probe.error("postconf failed: Postfix is not installed or not readable")
    if conf.get("smtpd_tls_auth_only") != "yes":
        problems.append(f"smtpd_tls_auth_only = {conf.get('smtpd_tls_auth_only')}")
    dovecot = probe.run("doveconf -h ssl")
    if dovecot.rc != 0:
        problems.append("doveconf failed: Dovecot is not installed or not readable")
    elif dovecot.stdout.strip() != "required":
        problems.append(f"dovecot ssl = {dovecot.stdout.strip()}, must be required")
    return probe.verdict(problems, "authentication only over TLS")


PSQL = "runuser -u postgres -- psql -XAtq -F ' ' -c %s"


def psql(probe: Probe, query: str) -> list[str] | None:
    result = probe.run(PSQL, query)
    if result.rc != 0:
        return None
    return [line for line in result.stdout.splitlines() if line.strip()]


def _pg_setting(host: HostLike, name: str, want: str) -> CheckOutcome:
    probe = Probe(host)
    rows = psql(probe, f"SHOW {name}")
    if rows is None:
        return probe.error("psql failed: PostgreSQL is not running or not reachable as postgres")
    value = rows[0].strip() if rows else ""
    return probe.verdict([] if value == want else [f"{name} = {value}, must be {want}"], value)


@check("services_postgresql_scram")
def services_postgresql_scram(host: HostLike) -> CheckOutcome:
    """PostgreSQL hashes new passwords with SCRAM-SHA-256."""
    return _pg_setting(host, "password_encryption", "scram-sha-256")


@check("services_postgresql_ssl")
def services_postgresql_ssl(host: HostLike) -> CheckOutcome:
    """PostgreSQL accepts TLS connections (ssl = on)."""
    return _pg_setting(host, "ssl", "on")


HBA = "SELECT line_number, type, auth_method FROM pg_hba_file_rules ORDER BY line_number"


def _hba(probe: Probe) -> list[tuple[str, str, str]] | None:
    rows = psql(probe, HBA)
    if rows is None:
        return None
    return [tuple(row.split()[:3]) for row in rows if len(row.split()) >= 3]  # type: ignore[misc]


@check("services_postgresql_hostssl_only")
def services_postgresql_hostssl_only(host: HostLike) -> CheckOutcome:
    """Every network entry of pg_hba.conf requires TLS (hostssl; no host/hostnossl)."""
    probe = Probe(host)
    rules = _hba(probe)
    if rules is None:
        return probe.error("psql failed: pg_hba_file_rules cannot be read")
    plain = [f"line {n}: {kind}" for n, kind, _ in rules if kind in ("host", "hostnossl")]
    return probe.verdict([f"network entries without TLS: {plain}"] if plain else [], "hostssl only")


@check("services_postgresql_no_weak_auth")
def services_postgresql_no_weak_auth(
    host: HostLike, *, forbidden: Sequence[str] = ("trust", "password", "md5")
) -> CheckOutcome:
    """No pg_hba.conf entry uses trust, cleartext password or MD5 authentication."""
    probe = Probe(host)
    rules = _hba(probe)
    if rules is None:
        return probe.error("psql failed: pg_hba_file_rules cannot be read")
    weak = [f"line {n}: {kind} {method}" for n, kind, method in rules if method in forbidden]
    return probe.verdict([f"weak authentication: {weak}"] if weak else [], "no weak auth method")


# Role clamav: clamd, pdic-clamav's check (every minute) and scan (daily), published for
# node_exporter's textfile collector; role mail: rspamd's milter and its antivirus rule.
CLAMAV_TEXTFILE = "/var/lib/prometheus/node-exporter/pdic_clamav.prom"
CLAMAV_SCAN_TEXTFILE = "/var/lib/prometheus/node-exporter/pdic_clamav_scan.prom"
RSPAMD_MILTER = "inet:127.0.0.1:11332"
RSPAMADM_SECTION = "rspamadm configdump -j %s"
PATH_LABEL = re.compile(r'path="((?:[^"\\]|\\.)*)"')


@check("services_clamav_running")
def services_clamav_running(
    host: HostLike, *, textfile: str = CLAMAV_TEXTFILE, max_age_minutes: int = 10
) -> CheckOutcome:
    """clamd is enabled and running, and pdic-clamav's check (every minute) found it answering
    a scan of the EICAR test file and detecting it, less than ``max_age_minutes`` ago."""
    probe = Probe(host)
    found = recent_result(
        probe,
        ["clamav-daemon.service", "pdic-clamav-check.timer"],
        textfile,
        "pdic_clamav_last_check_timestamp_seconds",
        max_age_minutes,
        "clamd check",
        "min",
    )
    if found is None:
        return probe.error("the host's clock could not be read")
    samples, problems = found
    if "pdic_clamav_last_check_timestamp_seconds" in samples:
        if samples.get("pdic_clamav_up") != 1:
            problems.append("clamd did not answer a scan of the test file")
        elif samples.get("pdic_clamav_test_file_detected") != 1:
            problems.append("clamd answered but did not detect the test file: no signatures")
    return probe.verdict(problems, "clamd answers and detects the test file (signatures loaded)")


def _rspamd_section(probe: Probe, section: str) -> Mapping[str, Any] | None:
    """A section of rspamd's configuration as rspamadm merges it; None if rspamadm failed or
    the section is not there."""
    result = probe.run(RSPAMADM_SECTION, section)
    if result.rc != 0:
        return None
    try:
        found = json.loads(result.stdout)
    except ValueError:
        return None  # "Section NAME NOT FOUND"
    return found if isinstance(found, Mapping) else None


@check("services_mail_antivirus")
def services_mail_antivirus(host: HostLike) -> CheckOutcome:
    """Postfix hands mail to rspamd's milter and tempfails while it does not answer; rspamd's
    antivirus module asks clamd and rejects what it finds at SMTP time; a part clamd could not
    scan is tempfailed (force_actions), so no unscanned attachment passes."""
    probe = Probe(host)
    problems = []
    conf = postconf(probe, "smtpd_milters")
    milters = conf.get("smtpd_milters", "") if conf else ""
    if conf is None:
        problems.append("postconf failed: Postfix is not installed")
    elif RSPAMD_MILTER not in milters:
        problems.append(f"smtpd_milters does not pass mail to rspamd ({RSPAMD_MILTER}): {milters}")
    elif not re.search(
        r"\{\s*" + re.escape(RSPAMD_MILTER) + r"\s*,[^}]*default_action\s*=\s*tempfail", milters
    ):
        problems.append("rspamd's milter does not tempfail mail while it is down (default_action)")
    antivirus = _rspamd_section(probe, "antivirus")
    rejecting = {
        name: rule
        for name, rule in (antivirus or {}).items()
        if isinstance(rule, Mapping)
        and rule.get("type", name) == "clamav"
        and rule.get("action") == "reject"
        and rule.get("servers")
    }
    if antivirus is None:
        problems.append("rspamd has no antivirus module configured (rspamadm configdump antivirus)")
    elif not rejecting:
        problems.append("no clamav rule of rspamd's antivirus module rejects (action = reject)")
    forced = _rspamd_section(probe, "force_actions")
    tempfailed = [
        str(rule.get("expression", ""))
        for rule in ((forced or {}).get("rules") or {}).values()
        if isinstance(rule, Mapping) and rule.get("action") == "soft reject"
    ]
    for name, rule in rejecting.items():
        fail = str(rule.get("symbol_fail") or f"{rule.get('symbol') or name.upper()}_FAIL")
        if not any(re.search(rf"(?<![!\w]){re.escape(fail)}\b", e) for e in tempfailed):
            problems.append(f"a part clamd cannot scan ({fail}) is not tempfailed (force_actions)")
    return probe.verdict(
        problems,
        f"rspamd rejects what clamd finds ({', '.join(sorted(rejecting))}) and tempfails what it"
        f" cannot scan; smtpd_milters = {milters}",
    )


@check("services_upload_scan_recent")
def services_upload_scan_recent(
    host: HostLike, *, textfile: str = CLAMAV_SCAN_TEXTFILE, max_age_hours: int = 26
) -> CheckOutcome:
    """The daily scan of the applications' upload storage (pdic-clamav-scan.timer) is enabled,
    and its last run, published for node_exporter, ended less than ``max_age_hours`` ago, read
    every directory whole and found no infected file."""
    probe = Probe(host)
    found = recent_result(
        probe,
        ["pdic-clamav-scan.timer"],
        textfile,
        "pdic_clamav_last_scan_timestamp_seconds",
        max_age_hours,
        "upload scan",
    )
    if found is None:
        return probe.error("the host's clock could not be read")
    samples, problems = found
    if "pdic_clamav_last_scan_timestamp_seconds" in samples:
        if samples.get("pdic_clamav_scan_success") != 1:
            problems.append("the last scan could not read every directory whole")
        for name, value in sorted(samples.items()):
            if name.startswith("pdic_clamav_scan_infected_files{") and value > 0:
                label = PATH_LABEL.search(name)
                where = label.group(1) if label else name
                problems.append(f"{value:.0f} infected files in {where}")
    scanned = sum(1 for name in samples if name.startswith("pdic_clamav_scan_infected_files{"))
    return probe.verdict(
        problems, f"last scan < {max_age_hours} h ago, {scanned} directories, nothing infected"
    )
