"""Reviewer password hashes: scrypt (stdlib), stored as `scrypt:N:r:p:SALT:HASH`.

The format has no `$` (shells, compose files and .env interpolation mangle it) and no `,` (the
reviewer list's separator). Salt and hash are URL-safe base64 without padding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["InvalidPasswordHash", "check_hash_format", "hash_password", "verify_password"]

SCHEME = "scrypt"
# 2**14 * 8 * 128 bytes = 16 MiB of memory and ~50 ms per check: slow for a guesser, fine for a login.
DEFAULT_N, DEFAULT_R, DEFAULT_P = 2**14, 8, 1
_KEY_LEN = 32
_MAX_MEM = 64 * 1024 * 1024


class InvalidPasswordHash(ValueError):
    """A stored hash that is not in the `scrypt:N:r:p:SALT:HASH` format."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEM, dklen=_KEY_LEN)


def hash_password(password: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    if not password:
        raise ValueError("the password must not be empty")
    salt = secrets.token_bytes(16)
    return ":".join([SCHEME, str(n), str(r), str(p), _b64(salt), _b64(_derive(password, salt, n, r, p))])


def check_hash_format(stored: str) -> None:
    """Raise `InvalidPasswordHash` unless `stored` can be verified (checked once at start-up)."""
    _parse(stored)


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split(":")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise InvalidPasswordHash(
            "expected scrypt:N:r:p:SALT:HASH (make one with `python -m inbox hash-password`)"
        )
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError as error:
        raise InvalidPasswordHash(f"unreadable hash: {error}") from None
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or 128 * n * r > _MAX_MEM or not salt or not digest:
        raise InvalidPasswordHash("scrypt parameters out of range")
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    n, r, p, salt, digest = _parse(stored)
    return hmac.compare_digest(_derive(password, salt, n, r, p), digest)
