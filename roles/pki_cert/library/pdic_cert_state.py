#!/usr/bin/python3
"""Ansible module: which of a host's certificates already match what the inventory asks.

One run reads every key, certificate and chain file of the host and says, per entry, either
``ok`` or why the entry needs the full path (key, request, signature on the CA host, files,
CA record). A portal host carries one certificate per component site: checking them all in
one module run instead of seven module runs each is what keeps a no-change deploy short.

``ok`` is only said when everything the full path would converge already holds: the key
(type, size or curve, owner, group, mode), the certificate (public key, subject, names,
extensions, issuer and its signature, days left, not revoked, known to the CA's database)
and the full chain (exact content, owner, mode). Anything unreadable or unexpected gives a
reason instead, so the full path runs; this module never changes anything.
"""

from __future__ import annotations

import datetime
import grp
import os
import pwd
import stat
from typing import Any

from ansible.module_utils.basic import AnsibleModule

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    HAVE_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - the role installs python3-cryptography first
    HAVE_CRYPTOGRAPHY = False

_CURVES = {"secp256r1": "secp256r1", "secp384r1": "secp384r1"}


def _owner_problem(path: str, owner: str, group: str, mode: str) -> str | None:
    st = os.stat(path)
    try:
        if pwd.getpwuid(st.st_uid).pw_name != owner:
            return f"{path}: owner is not {owner}"
        if grp.getgrgid(st.st_gid).gr_name != group:
            return f"{path}: group is not {group}"
    except KeyError:
        return f"{path}: owner or group has no name"
    if stat.S_IMODE(st.st_mode) != int(mode, 8):
        return f"{path}: mode is not {mode}"
    return None


def _key_problem(entry: dict[str, Any]) -> tuple[str | None, Any]:
    path = entry["key"]
    if not os.path.isfile(path):
        return "no key", None
    problem = _owner_problem(path, entry["owner"], entry["group"], entry["mode"])
    if problem:
        return problem, None
    with open(path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    if entry["key_type"] == "ECC":
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            return "key is not an EC key", None
        if key.curve.name != _CURVES.get(entry["curve"] or "", entry["curve"]):
            return f"key curve is {key.curve.name}", None
    elif entry["key_type"] == "RSA":
        if not isinstance(key, rsa.RSAPrivateKey):
            return "key is not an RSA key", None
        if key.key_size != int(entry["size"]):
            return f"key size is {key.key_size}", None
    else:
        return f"unknown key type {entry['key_type']}", None
    return None, key


def _public_bytes(key: Any) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _signed_by(cert: Any, issuer: Any) -> bool:
    public = issuer.public_key()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(
                cert.signature,
                cert.tbs_certificate_bytes,
                padding.PKCS1v15(),
                cert.signature_hash_algorithm,
            )
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(
                cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
            )
        else:
            return False
    except Exception:
        return False
    return True


def _extensions_problem(cert: Any, entry: dict[str, Any]) -> str | None:
    ext = cert.extensions
    try:
        basic = ext.get_extension_for_class(x509.BasicConstraints)
        usage = ext.get_extension_for_class(x509.KeyUsage)
        extended = ext.get_extension_for_class(x509.ExtendedKeyUsage)
        sans = ext.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound as exc:
        return f"extension missing: {exc.oid.dotted_string}"
    if basic.value.ca or not basic.critical:
        return "basic constraints differ"
    wanted_rsa = entry["key_type"] == "RSA"
    if (
        not usage.critical
        or not usage.value.digital_signature
        or usage.value.key_encipherment != wanted_rsa
        or usage.value.key_cert_sign
        or usage.value.crl_sign
    ):
        return "key usage differs"
    if set(extended.value) != {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}:
        return "extended key usage differs"
    names = set(sans.value.get_values_for_type(x509.DNSName))
    if names != {entry["common_name"], *entry["sans"]} or len(sans.value) != len(names):
        return "names differ"
    try:
        points = ext.get_extension_for_class(x509.CRLDistributionPoints).value
        urls = [n.value for p in points for n in (p.full_name or [])]
    except x509.ExtensionNotFound:
        urls = []
    if urls != ([entry["crl_url"]] if entry["crl_url"] else []):
        return "CRL distribution point differs"
    return None


def _public_file(path: str, missing: str) -> tuple[str | None, bytes]:
    """(problem, content) of a certificate file the role writes root:root 0644."""
    if not os.path.isfile(path):
        return missing, b""
    problem = _owner_problem(path, "root", "root", "0644")
    if problem:
        return problem, b""
    with open(path, "rb") as handle:
        return None, handle.read()


def _certificate_problem(entry: dict[str, Any], key: Any, now: datetime.datetime) -> str | None:
    problem, pem = _public_file(entry["crt"], "no certificate")
    if problem:
        return problem
    cert = x509.load_pem_x509_certificate(pem)
    if _public_bytes(cert.public_key()) != _public_bytes(key.public_key()):
        return "certificate is not for the key"
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if cns != [entry["common_name"]] or len(cert.subject) != 1:
        return "subject differs"
    problem = _extensions_problem(cert, entry)
    if problem:
        return problem
    if not entry["issuer_pem"]:
        return "the issuing CA's chain was not read"
    issuer = x509.load_pem_x509_certificate(entry["issuer_pem"].encode())
    if cert.issuer != issuer.subject or not _signed_by(cert, issuer):
        return "not signed by the issuing CA"
    after = getattr(cert, "not_valid_after_utc", None)  # cryptography >= 42
    if after is None:  # Debian 12 ships cryptography 38: naive UTC
        after = cert.not_valid_after.replace(tzinfo=datetime.UTC)
    left = after - now
    if left < datetime.timedelta(days=int(entry["renew_days"])):
        return f"renewal due ({left.days} days left)"
    if cert.serial_number in set(entry["revoked"]):
        return "revoked"
    if entry["known"] is not None and cert.serial_number not in set(entry["known"]):
        return "not in the CA's database"
    problem, chain = _public_file(entry["fullchain"], "no full chain")
    if problem:
        return problem
    if chain != pem + entry["issuer_pem"].encode():
        return "full chain differs"
    return None


def state(entry: dict[str, Any], now: datetime.datetime) -> str:
    """``ok``, or why this entry needs the full path."""
    try:
        problem, key = _key_problem(entry)
        if problem is None:
            problem = _certificate_problem(entry, key, now)
    except (OSError, ValueError, TypeError) as exc:
        problem = f"unreadable: {exc}"
    return problem or "ok"


def entries(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The role's certificate entries with every default applied, as state() wants them."""
    out = []
    for item in params["certificates"]:
        ca = item.get("ca") or params["default_ca"]
        authority = params["authorities"].get(ca) or {}
        algorithm = params["key_algorithms"][item.get("key_type") or params["default_key_type"]]
        base = os.path.join(params["directory"], item["name"])
        out.append(
            {
                "name": item["name"],
                "key": base + ".key",
                "crt": base + ".crt",
                "fullchain": base + ".fullchain.pem",
                "owner": item.get("owner") or "root",
                "group": item.get("group") or "root",
                "mode": str(item.get("mode") or "0600"),
                "key_type": algorithm["type"],
                "curve": algorithm.get("curve"),
                "size": algorithm.get("size"),
                "common_name": item["common_name"],
                "sans": list(item.get("sans") or []),
                "crl_url": authority.get("crl_url") or "",
                "issuer_pem": params["issuers"].get(ca) or "",
                "revoked": [int(s) for s in params["revoked"].get(ca, [])],
                "known": ([int(s) for s in params["known"][ca]] if ca in params["known"] else None),
                "renew_days": int(params["renew_days"]),
            }
        )
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "certificates": {"type": "list", "elements": "dict", "required": True},
            "directory": {"type": "path", "required": True},
            "default_ca": {"type": "str", "required": True},
            "default_key_type": {"type": "str", "required": True},
            "key_algorithms": {"type": "dict", "required": True},
            "authorities": {"type": "dict", "required": True},
            "issuers": {"type": "dict", "required": True},
            "revoked": {"type": "dict", "required": True},
            "known": {"type": "dict", "required": True},
            "renew_days": {"type": "int", "required": True},
        },
        supports_check_mode=True,
    )
    certificates = entries(module.params)
    if not HAVE_CRYPTOGRAPHY:
        states = {c["name"]: "python3-cryptography is not installed" for c in certificates}
    else:
        now = datetime.datetime.now(datetime.UTC)
        states = {c["name"]: state(c, now) for c in certificates}
    module.exit_json(changed=False, states=states)


if __name__ == "__main__":
    main()
