"""pdic.totp: the RFC 4226 and RFC 6238 test vectors, and what pam_oath's key file accepts."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from pdic.totp import TotpError, hotp, key_from_hex, otpauth_uri, seconds_left, time_step, totp

# RFC 4226 appendix D and RFC 6238 appendix B: the ASCII key "1234567890..." repeated to the
# hash's length (the errata's keys for SHA-256 and SHA-512).
SHA1_KEY = b"12345678901234567890"
SHA256_KEY = b"12345678901234567890123456789012"
SHA512_KEY = b"1234567890123456789012345678901234567890123456789012345678901234"


@pytest.mark.parametrize(
    ("counter", "code"),
    list(
        enumerate(
            [
                "755224",
                "287082",
                "359152",
                "969429",
                "338314",
                "254676",
                "287922",
                "162583",
                "399871",
                "520489",
            ]
        )
    ),
)
def test_rfc4226_hotp_vectors(counter: int, code: str) -> None:
    assert hotp(SHA1_KEY, counter) == code


@pytest.mark.parametrize(
    ("at", "sha1", "sha256", "sha512"),
    [
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ],
)
def test_rfc6238_totp_vectors(at: int, sha1: str, sha256: str, sha512: str) -> None:
    assert totp(SHA1_KEY, at, digits=8) == sha1
    assert totp(SHA256_KEY, at, digits=8, digest="sha256") == sha256
    assert totp(SHA512_KEY, at, digits=8, digest="sha512") == sha512


def test_six_digits_are_the_last_six_of_eight() -> None:
    # pam_oath's HOTP/T30/6: the same truncation, modulo 10^6.
    assert totp(SHA1_KEY, 59) == "287082"
    assert totp(SHA1_KEY, 1111111109) == "081804"  # leading zero kept


def test_a_code_holds_for_its_30_second_step() -> None:
    assert time_step(59) == 1 and time_step(60) == 2
    assert totp(SHA1_KEY, 30) == totp(SHA1_KEY, 59) != totp(SHA1_KEY, 60)
    assert seconds_left(59) == 1 and seconds_left(60) == 30


def test_the_key_is_read_as_pam_oath_writes_it() -> None:
    assert key_from_hex(SHA1_KEY.hex()) == SHA1_KEY
    assert key_from_hex(SHA1_KEY.hex().upper() + "\n") == SHA1_KEY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("31323", "not hexadecimal digits"),
        ("zz" * 20, "not hexadecimal digits"),
        ("", "not hexadecimal digits"),
        ("00" * 15, "is 15 bytes long; pam_oath needs 16..32 (32..64 hex digits)"),
        ("00" * 33, "is 33 bytes long"),
    ],
)
def test_a_key_pam_oath_cannot_read_is_refused(text: str, message: str) -> None:
    with pytest.raises(TotpError, match=re.escape(message)):
        key_from_hex(text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"digest": "md5"}, "unknown digest 'md5'"),
        ({"digits": 5}, "6..10 digits"),
        ({"counter": -1}, "cannot be negative"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"counter": 0, **kwargs}
    with pytest.raises(TotpError, match=message):
        hotp(SHA1_KEY, **arguments)  # type: ignore[arg-type]


def test_the_otpauth_uri_holds_the_key_in_base32() -> None:
    uri = otpauth_uri("labadmin@lab.pdic.internal", SHA1_KEY, "pdic lab")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/pdic lab:labadmin@lab.pdic.internal"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "issuer": "pdic lab",
        "algorithm": "SHA1",
        "digits": "6",
        "period": "30",
    }
    assert base64.b32decode(query["secret"]) == SHA1_KEY
    assert " " not in uri
