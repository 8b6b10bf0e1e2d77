"""Password hashing with scrypt at OWASP's current parameters (N=2^17, r=8, p=1).

One hash needs 128 MiB (128·r·N bytes), more than hashlib's default ``maxmem`` of 32 MiB, so
``maxmem`` is raised; a semaphore lets only ``HASH_SLOTS`` hashes run at once, so a burst of
logins cannot take the memory (or every core) of the server. Hashes made with other parameters
still verify, and ``needs_rehash`` tells the login to store a new one.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from functools import lru_cache

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
MAX_N = 2**20                      # refuse stored parameters that would take over 1 GiB
HASH_SLOTS = 2
_slots = threading.BoundedSemaphore(HASH_SLOTS)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    with _slots:
        return hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, dklen=dklen,
                              maxmem=128 * r * n + 16 * 1024 * 1024)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, 32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        n, r, p = int(n), int(r), int(p)
        if kind != "scrypt" or not (1 < n <= MAX_N and 0 < r <= 32 and 0 < p <= 16):
            return False
        got = _scrypt(password, bytes.fromhex(salt), n, r, p, len(digest) // 2)
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with other parameters than today's."""
    return not stored.startswith(f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$")


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A real hash to check against for unknown users, so timing does not reveal which names exist."""
    return hash_password(secrets.token_hex(8))
