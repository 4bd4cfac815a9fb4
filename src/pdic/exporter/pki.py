"""Certificate and CRL files: how long until they expire, and which serials are revoked.

:class:`CertificateCollector` reads certificate files (one certificate or a chain, PEM, or one
DER certificate) and :class:`CrlCollector` reads CRLs (PEM or DER), both from configured paths
or globs (see :func:`pdic.exporter.sources.expand_paths`). Parsed files are cached until they
change; the seconds-left values are computed from the clock at each scrape.

Revocation is told as two sets of series that Prometheus joins: every certificate's issuer
and serial number (``pdic_cert_info``, on every host) and every serial number a CRL revokes
(``pdic_crl_revoked_certificate_info``, on the CA host). The alert ``TLSCertificateRevoked``
matches them on ``issuer`` and ``serial``, so a host needs no copy of the CRL. Serial numbers
are written as openssl writes them (``openssl x509 -serial``, the CA's ``index.txt``):
upper-case hexadecimal, an even number of digits.

The exporter runs on the hosts with Debian 12's python3-cryptography (38), which lacks what
later versions added and this module would otherwise use: ``load_pem_x509_certificates`` (39)
and the timezone-aware ``not_valid_*_utc``, ``last_update_utc`` and ``next_update_utc`` (42).
:func:`_pem_certificates` and :func:`_utc_timestamp` use them where present and fall back to
the older calls (one PEM block at a time; naive datetimes, which cryptography gives in UTC).

It does not verify signatures or chains, decide revocation itself (the alert rule does), fetch
anything over the network (the blackbox exporter watches certificates that are served), or
read private keys.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from pdic.exporter.sources import ParsedFiles, expand_paths

_PEM = b"-----BEGIN "
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----", re.DOTALL
)


def _pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM file; ValueError if there is none."""
    load_all = getattr(x509, "load_pem_x509_certificates", None)
    if load_all is not None:
        return list(load_all(data))
    # cryptography < 39: one block at a time, as load_pem_x509_certificates does.
    blocks = _PEM_CERTIFICATE.findall(data)
    if not blocks:
        raise ValueError("Unable to load PEM file. No certificate found.")
    return [x509.load_pem_x509_certificate(block) for block in blocks]


def _utc_timestamp(obj: Any, name: str) -> float | None:
    """``obj.<name>_utc`` (cryptography >= 42) or ``obj.<name>`` (naive, in UTC) as Unix time."""
    value = getattr(obj, f"{name}_utc", None)
    if value is None and not hasattr(obj, f"{name}_utc"):
        value = getattr(obj, name)
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
    return None if value is None else float(value.timestamp())


def serial_hex(number: int) -> str:
    """A serial number as openssl prints it: upper-case hex, an even number of digits."""
    digits = f"{abs(number):X}"
    if len(digits) % 2:
        digits = "0" + digits
    return "-" + digits if number < 0 else digits


@dataclass(frozen=True)
class CertificateInfo:
    subject: str
    not_before: float
    not_after: float
    issuer: str
    serial: str


@dataclass(frozen=True)
class CrlInfo:
    issuer: str
    this_update: float
    next_update: float | None
    revoked: tuple[str, ...] = ()


def parse_certificates(data: bytes) -> tuple[CertificateInfo, ...]:
    """Every certificate of a PEM file (or the one of a DER file), one per subject.

    A subject that occurs twice in one file (an old and a renewed certificate left side by
    side) is reported once, with the earlier notAfter: the one that will break first.
    """
    certs = _pem_certificates(data) if _PEM in data else [x509.load_der_x509_certificate(data)]
    by_subject: dict[str, CertificateInfo] = {}
    for cert in certs:
        info = CertificateInfo(
            subject=cert.subject.rfc4514_string(),
            not_before=_required(_utc_timestamp(cert, "not_valid_before")),
            not_after=_required(_utc_timestamp(cert, "not_valid_after")),
            issuer=cert.issuer.rfc4514_string(),
            serial=serial_hex(cert.serial_number),
        )
        seen = by_subject.get(info.subject)
        if seen is None or info.not_after < seen.not_after:
            by_subject[info.subject] = info
    return tuple(by_subject.values())


def parse_crl(data: bytes) -> CrlInfo:
    crl = x509.load_pem_x509_crl(data) if _PEM in data else x509.load_der_x509_crl(data)
    return CrlInfo(
        issuer=crl.issuer.rfc4514_string(),
        this_update=_required(_utc_timestamp(crl, "last_update")),
        next_update=_utc_timestamp(crl, "next_update"),
        revoked=tuple(serial_hex(entry.serial_number) for entry in crl),
    )


def _required(value: float | None) -> float:
    if value is None:
        raise ValueError("a required validity time is missing")
    return value


class CertificateCollector(Collector):
    """Expiry of the certificates in certificate files (PEM, a chain gives one series each)::

        # HELP pdic_cert_expiry_seconds Seconds until the certificate's notAfter (negative once expired).
        # HELP pdic_cert_not_after_timestamp_seconds The certificate's notAfter as a Unix timestamp.
        # HELP pdic_cert_not_before_timestamp_seconds The certificate's notBefore as a Unix timestamp.
        # HELP pdic_cert_info The certificate's issuer and serial number (always 1).

    Labels: ``path`` (the file), ``subject`` (RFC 4514) and ``agency`` (the agency that owns
    the certificate, empty for the centre's own); ``pdic_cert_info`` adds ``issuer`` (RFC 4514)
    and ``serial`` (see :func:`serial_hex`). A literal path that is missing, a file that cannot
    be read and a file with no parsable certificate fail the scrape.

    ``agencies`` maps configured paths or globs to an agency: a file takes the agency of the
    first of them (in ``paths`` order) that gives it.
    """  # noqa: E501

    def __init__(
        self,
        paths: Sequence[str],
        now: Callable[[], float] = time.time,
        agencies: Mapping[str, str] | None = None,
    ) -> None:
        self.paths = list(paths)
        self.now = now
        self.agencies = {p: a for p, a in (agencies or {}).items() if a}
        self._files = ParsedFiles(parse_certificates)

    def _agency_of(self) -> dict[str, str]:
        """Each file an agency's path or glob gives now, with that agency."""
        found: dict[str, str] = {}
        for pattern in self.paths:
            agency = self.agencies.get(pattern)
            if agency:
                for path in expand_paths([pattern]):
                    found.setdefault(path, agency)
        return found

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["path", "subject", "agency"]
        expiry = GaugeMetricFamily(
            "pdic_cert_expiry_seconds",
            "Seconds until the certificate's notAfter (negative once expired).",
            labels=labels,
        )
        not_after = GaugeMetricFamily(
            "pdic_cert_not_after_timestamp_seconds",
            "The certificate's notAfter as a Unix timestamp.",
            labels=labels,
        )
        not_before = GaugeMetricFamily(
            "pdic_cert_not_before_timestamp_seconds",
            "The certificate's notBefore as a Unix timestamp.",
            labels=labels,
        )
        info = GaugeMetricFamily(
            "pdic_cert_info",
            "The certificate's issuer and serial number (always 1).",
            labels=[*labels, "issuer", "serial"],
        )
        paths = expand_paths(self.paths)
        agency_of = self._agency_of() if self.agencies else {}
        now = self.now()
        # Samples are appended directly, one label dict shared by a certificate's three
        # samples: add_metric builds a dict per sample, twice the cost (~4 ms more per
        # 10,000 samples, in a scrape budget of 100 ms).
        for path, required in paths.items():
            for cert in self._files.get(path, missing_ok=not required) or ():
                key = {"path": path, "subject": cert.subject, "agency": agency_of.get(path, "")}
                expiry.samples.append(Sample(expiry.name, key, cert.not_after - now))
                not_after.samples.append(Sample(not_after.name, key, cert.not_after))
                not_before.samples.append(Sample(not_before.name, key, cert.not_before))
                info_key = {**key, "issuer": cert.issuer, "serial": cert.serial}
                info.samples.append(Sample(info.name, info_key, 1.0))
        self._files.retain(paths)
        yield expiry
        yield not_after
        yield not_before
        yield info


class CrlCollector(Collector):
    """When the CRLs in CRL files (PEM or DER) must be replaced::

        # HELP pdic_crl_next_update_seconds Seconds until the CRL's nextUpdate (negative once passed, +Inf if it has none).
        # HELP pdic_crl_this_update_timestamp_seconds The CRL's thisUpdate as a Unix timestamp.
        # HELP pdic_crl_revoked_certificate_info A certificate the CRL revokes, by serial number (always 1).

    Labels: ``path`` and ``issuer`` (RFC 4514); ``pdic_crl_revoked_certificate_info`` adds
    ``serial`` (see :func:`serial_hex`), one series per revoked certificate. Unreadable or
    unparsable files fail the scrape.
    """  # noqa: E501

    def __init__(self, paths: Sequence[str], now: Callable[[], float] = time.time) -> None:
        self.paths = list(paths)
        self.now = now
        self._files = ParsedFiles(parse_crl)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["path", "issuer"]
        next_update = GaugeMetricFamily(
            "pdic_crl_next_update_seconds",
            "Seconds until the CRL's nextUpdate (negative once passed, +Inf if it has none).",
            labels=labels,
        )
        this_update = GaugeMetricFamily(
            "pdic_crl_this_update_timestamp_seconds",
            "The CRL's thisUpdate as a Unix timestamp.",
            labels=labels,
        )
        revoked = GaugeMetricFamily(
            "pdic_crl_revoked_certificate_info",
            "A certificate the CRL revokes, by serial number (always 1).",
            labels=[*labels, "serial"],
        )
        paths = expand_paths(self.paths)
        now = self.now()
        for path, required in paths.items():
            crl = self._files.get(path, missing_ok=not required)
            if crl is None:
                continue
            key = [path, crl.issuer]
            left = math.inf if crl.next_update is None else crl.next_update - now
            next_update.add_metric(key, left)
            this_update.add_metric(key, crl.this_update)
            for serial in crl.revoked:
                revoked.add_metric([*key, serial], 1.0)
        self._files.retain(paths)
        yield next_update
        yield this_update
        yield revoked
