"""pdic.mail.passwords: initial passwords and their Dovecot hashes, derived from one secret."""

from __future__ import annotations

import shutil

import pytest

from pdic.mail import MailError, passwords

SEED = "s3cr3t-seed-of-the-lab-vault-0123456789abcdefghijklmnopqrstuvwxyz"


def test_initial_password_is_stable_and_per_mailbox() -> None:
    first = passwords.initial_password(SEED, "annv@lab.pdic.internal")
    assert first == passwords.initial_password(SEED, "ANNV@lab.pdic.internal")
    assert len(first) == 16 and set(first) <= set(passwords.PASSWORD_ALPHABET)
    assert first != passwords.initial_password(SEED, "binhtt@lab.pdic.internal")
    assert first != passwords.initial_password(SEED + "x", "annv@lab.pdic.internal")


def test_hash_is_dovecot_sha512_crypt_and_repeatable() -> None:
    value = passwords.password_hash(SEED, "annv@lab.pdic.internal")
    salt = passwords.salt(SEED, "annv@lab.pdic.internal")
    assert value.startswith("{SHA512-CRYPT}$6$" + salt + "$") and len(salt) == 16
    assert value == passwords.password_hash(SEED, "annv@lab.pdic.internal")
    assert ":" not in value and " " not in value


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_both_backends_agree() -> None:
    password = passwords.initial_password(SEED, "x@example.gov.vn")
    salt = passwords.salt(SEED, "x@example.gov.vn")
    assert passwords.sha512_crypt(password, salt) == passwords._openssl_sha512_crypt(password, salt)
    # The SHA-crypt specification's own example (5000 rounds).
    expected = (
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCo"
        "EOfaS35inz1"
    )
    assert passwords._openssl_sha512_crypt("Hello world!", "saltstring") == expected
    assert passwords.sha512_crypt("Hello world!", "saltstring") == expected


def test_an_empty_seed_is_refused() -> None:
    with pytest.raises(MailError, match="vault_mail_password_seed is empty"):
        passwords.password_hash("", "x@example.gov.vn")


def test_hashes_of_many() -> None:
    out = passwords.password_hashes(SEED, ["a@x.vn", "b@x.vn"])
    assert list(out) == ["a@x.vn", "b@x.vn"] and out["a@x.vn"] != out["b@x.vn"]
