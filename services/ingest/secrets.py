"""Binding secrets are encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken


class SecretsUnreadable(RuntimeError):
    """Stored secrets cannot be decrypted with the configured key (was the key changed?)."""


class SecretBox:
    """Encrypts and decrypts a binding's secrets; the key never leaves this object."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    @staticmethod
    def new_key() -> str:
        """A fresh random key, urlsafe base64."""
        return Fernet.generate_key().decode()

    def seal(self, secrets: Mapping[str, str]) -> bytes:
        """Encrypt a secrets mapping."""
        return self._fernet.encrypt(json.dumps(dict(secrets), sort_keys=True).encode())

    def open(self, sealed: bytes) -> dict[str, str]:
        """Decrypt what `seal` produced."""
        try:
            opened: dict[str, str] = json.loads(self._fernet.decrypt(bytes(sealed)))
        except InvalidToken as exc:
            raise SecretsUnreadable("binding secrets do not decrypt with this key") from exc
        return opened

    def __repr__(self) -> str:
        return "SecretBox(<hidden>)"
