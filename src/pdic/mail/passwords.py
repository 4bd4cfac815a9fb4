"""Mailbox passwords: an initial one per mailbox, derived from one secret, stored only hashed.

The inventory declares one secret, ``vault_mail_password_seed`` (``pdic secrets ensure`` makes
it once in the vault file). A mailbox's initial password is an HMAC of its address under that
secret (:func:`initial_password`); ``pdic mail initial-password ADDRESS`` shows it to the
operator who hands it over. The mail role gives the host only its hash (:func:`password_hash`:
Dovecot's ``{SHA512-CRYPT}``, with a salt derived the same way, so the same mailbox always
gets the same hash and a deploy is repeatable), and only for mailboxes the host does not have
yet: an existing mailbox keeps whatever hash the host holds, so a password the user or an
operator changed stays.

It does not store, rotate or check passwords, and never writes one to a file.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess
import warnings
from collections.abc import Iterable

from pdic.inventory import Inventory
from pdic.mail.model import MailError

SEED_SECRET = "vault_mail_password_seed"
PASSWORD_LENGTH = 16
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/l/I
SALT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SCHEME = "{SHA512-CRYPT}"


def _stream(seed: str, purpose: str, address: str) -> bytes:
    if not seed:
        raise MailError(f"{SEED_SECRET} is empty: run `pdic secrets ensure`")
    message = f"pdic-mail-{purpose}:{address.lower()}".encode()
    return hmac.new(seed.encode(), message, hashlib.sha512).digest()


def initial_password(seed: str, address: str) -> str:
    """The mailbox's initial password: 16 letters and digits that cannot be misread."""
    out: list[str] = []
    limit = 256 - 256 % len(PASSWORD_ALPHABET)  # unbiased: bytes past a multiple are skipped
    counter = 0
    while len(out) < PASSWORD_LENGTH:
        for byte in _stream(seed, f"password-{counter}", address):
            if byte < limit and len(out) < PASSWORD_LENGTH:
                out.append(PASSWORD_ALPHABET[byte % len(PASSWORD_ALPHABET)])
        counter += 1
    return "".join(out)


def salt(seed: str, address: str) -> str:
    """16 characters of crypt's alphabet, the same for the same mailbox and seed."""
    return "".join(SALT_ALPHABET[b % 64] for b in _stream(seed, "salt", address)[:16])


def sha512_crypt(password: str, salt_text: str) -> str:
    """``$6$salt$hash`` (SHA-crypt, 5000 rounds) with the C library's crypt when Python still
    has it (3.11, 3.12), else with ``openssl passwd -6``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt

        value = crypt.crypt(password, f"$6${salt_text}")
        if value and value.startswith(f"$6${salt_text}$"):
            return value
    except ImportError:
        pass
    return _openssl_sha512_crypt(password, salt_text)


def _openssl_sha512_crypt(password: str, salt_text: str) -> str:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise MailError("cannot hash mail passwords: no crypt module and no openssl command")
    proc = subprocess.run(
        [openssl, "passwd", "-6", "-salt", salt_text, "-stdin"],
        input=password + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    value = proc.stdout.strip()
    if proc.returncode != 0 or not value.startswith(f"$6${salt_text}$"):
        raise MailError(f"openssl passwd -6 failed: {proc.stderr.strip() or proc.returncode}")
    return value


def password_hash(seed: str, address: str) -> str:
    """Dovecot's ``{SHA512-CRYPT}`` hash of the mailbox's initial password."""
    return SCHEME + sha512_crypt(initial_password(seed, address), salt(seed, address))


def password_hashes(seed: str, addresses: Iterable[str]) -> dict[str, str]:
    """:func:`password_hash` of each address."""
    return {address: password_hash(seed, address) for address in addresses}


def inventory_initial_password(inventory: Inventory, address: str) -> str:
    """The initial password of a mailbox of ``inventory``, from its vault file's seed."""
    from pdic.secrets import VAULT_FILE, password_file, read_vault

    address = address.lower()
    boxes = {str(m.get("address", "")).lower() for m in inventory.vars.get("mail_mailboxes") or []}
    if address not in boxes:
        raise MailError(f"{address!r} is not a mailbox of {inventory.path} (mail_mailboxes)")
    seed = read_vault(inventory.path / VAULT_FILE, password_file(inventory)).get(SEED_SECRET)
    if not seed:
        raise MailError(
            f"{inventory.path / VAULT_FILE}: no {SEED_SECRET}: declare it in pdic_secrets and "
            "run `pdic secrets ensure`"
        )
    return initial_password(str(seed), address)
