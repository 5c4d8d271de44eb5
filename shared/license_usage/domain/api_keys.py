"""Organization API keys (SPEC §5): the secret is shown once and only its hash is kept."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "lu_"


@dataclass(frozen=True)
class NewApiKey:
    key_id: str
    secret: str  # returned to the caller once, never stored

    @property
    def key_hash(self) -> str:
        return hash_api_key(self.secret)


def new_api_key() -> NewApiKey:
    return NewApiKey(key_id=f"key_{secrets.token_hex(8)}", secret=f"{KEY_PREFIX}{secrets.token_urlsafe(32)}")


def hash_api_key(secret: str) -> str:
    """SHA-256 suffices: the secret has 256 random bits, so it cannot be guessed from its hash."""
    return hashlib.sha256(secret.encode()).hexdigest()
