"""Keys for keys-file tests: a key's SHA-256 as the file holds it, computed here independently of
storelink.keys."""

from __future__ import annotations

import hashlib

__all__ = ["sha"]


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
