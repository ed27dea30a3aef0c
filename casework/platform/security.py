"""Bearer tokens: random, shown once, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are 256-bit random strings, so a fast unsalted digest is enough to make a stolen
    # table useless; there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()
