"""The keys that seal secrets kept in the shared database (``STORELINK_SECRET_KEY``).

Fernet (``cryptography``: AES-128-CBC with an HMAC-SHA256, a timestamp, URL-safe text) rather than a
scheme of our own: it authenticates what it encrypts, so a sealed token that was altered, or sealed
with another key, fails to open instead of opening as garbage. ``MultiFernet`` gives rotation: the
first key seals, every listed key opens, and :meth:`Keyring.reseal` moves a token to the first.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from storelink.errors import ConnectorError, ErrorKind

__all__ = ["Keyring", "new_key"]


def new_key() -> str:
    return Fernet.generate_key().decode()


class Keyring:
    """Seals and opens text with the configured keys, newest first."""

    def __init__(self, keys: SecretStr) -> None:
        listed = [k.strip() for k in keys.get_secret_value().split(",") if k.strip()]
        if not listed:
            raise ValueError("no key")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in listed])
        self.size = len(listed)

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise self._cannot_open() from None

    def reseal(self, sealed: str) -> str:
        """``sealed`` sealed again with the newest key (the same text)."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise self._cannot_open() from None

    @staticmethod
    def _cannot_open() -> ConnectorError:
        return ConnectorError(
            ErrorKind.NOT_CONFIGURED,
            "A token in the database was sealed with a key STORELINK_SECRET_KEY no longer lists (or was "
            "altered). When rotating, list the new key first and keep the old one after it until "
            "`storelink db rotate-key` has resealed every token.",
        )
