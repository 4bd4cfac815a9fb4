"""One-time codes for the administrators' second factor: HOTP (RFC 4226) and TOTP (RFC 6238).

The hosts check the codes with pam_oath (libpam-oath), whose ``/etc/users.oath`` holds each
administrator's key in hexadecimal on a ``HOTP/T30/6`` line: a code of 6 digits from a
30-second time step, HMAC-SHA-1. This module computes the same codes on the controller from the
same key, for the lab tests and for ``pdic admin totp`` (a code when no phone is at hand), and
writes the ``otpauth://`` URI an authenticator application reads (``pdic admin enroll``), whose
secret is the key in base32.

Only the standard library (hmac, hashlib, base64, struct). It deliberately does not check a
code a user typed (the hosts do that, with their replay protection), store keys or make them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
from urllib.parse import quote, urlencode

from pdic.errors import PdicError

STEP = 30
"""Seconds of one time step (pam_oath's ``HOTP/T30``)."""
DIGITS = 6
"""Digits of a code (``HOTP/T30/6``)."""
DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
"""HMAC hashes RFC 6238 names; pam_oath's TOTP uses SHA-1."""
HEX_KEY = re.compile(r"(?:[0-9a-fA-F]{2})+")
MIN_KEY_BYTES = 16
"""RFC 4226 asks for at least 128 bits of key."""
MAX_KEY_BYTES = 32
"""pam_oath reads at most 32 bytes (64 hexadecimal digits) of a key."""


class TotpError(PdicError):
    """A key or a parameter that cannot make a code."""


def key_from_hex(text: str) -> bytes:
    """The key written in hexadecimal (as in ``/etc/users.oath``); TotpError if it is not a
    whole number of bytes in hex or its length is outside what pam_oath accepts."""
    text = text.strip()
    if not HEX_KEY.fullmatch(text):
        raise TotpError("the TOTP key is not hexadecimal digits (two per byte)")
    key = bytes.fromhex(text)
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise TotpError(
            f"the TOTP key is {len(key)} bytes long; pam_oath needs "
            f"{MIN_KEY_BYTES}..{MAX_KEY_BYTES} "
            f"({2 * MIN_KEY_BYTES}..{2 * MAX_KEY_BYTES} hex digits)"
        )
    return key


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 4226: the code for ``counter``, ``digits`` long with leading zeros."""
    if digest not in DIGESTS:
        raise TotpError(f"unknown digest {digest!r} (known: {', '.join(DIGESTS)})")
    if not 6 <= digits <= 10:
        raise TotpError(f"a code has 6..10 digits, not {digits}")
    if counter < 0:
        raise TotpError(f"the counter cannot be negative ({counter})")
    mac = hmac.new(key, struct.pack(">Q", counter), DIGESTS[digest]).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def time_step(at: float, *, step: int = STEP) -> int:
    """The RFC 6238 counter of Unix time ``at`` (T0 = 0)."""
    return int(at // step)


def totp(
    key: bytes,
    at: float | None = None,
    *,
    step: int = STEP,
    digits: int = DIGITS,
    digest: str = "sha1",
) -> str:
    """RFC 6238: the code at Unix time ``at`` (now when None)."""
    return hotp(
        key, time_step(time.time() if at is None else at, step=step), digits=digits, digest=digest
    )


def seconds_left(at: float | None = None, *, step: int = STEP) -> float:
    """Seconds until the code of ``at`` (now when None) is replaced by the next one."""
    now = time.time() if at is None else at
    return step - now % step


def otpauth_uri(account: str, key: bytes, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI of Google Authenticator's key URI format, which
    authenticator applications read (from a QR code or typed): SHA-1, 6 digits, 30 s."""
    secret = base64.b32encode(key).decode("ascii").rstrip("=")
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode(
        {"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": STEP},
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"
