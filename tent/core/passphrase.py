"""The owner's passphrase, stored only as a salted scrypt hash and compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# scrypt cost: ~0.1 s and 32 MiB per check on a small VPS; guessing stays expensive.
_N, _R, _P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024
MIN_LENGTH = 8


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_LENGTH:
        raise ValueError(f"the passphrase must have at least {MIN_LENGTH} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(passphrase.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_passphrase(passphrase: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            passphrase.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
