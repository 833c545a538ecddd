"""Encryption at rest for biometric data (AES-256-GCM).

Blob layout: ``b"OL1" | key id (4 bytes) | nonce (12 bytes) | ciphertext+tag``. The key id
(first 4 bytes of SHA-256 of the key) lets a keyring hold old keys for decryption after a
rotation. The associated data names the row the ciphertext belongs to (``aad_for``), so a blob
copied onto another row, or another column, does not decrypt.

The key comes from ``OPENLFR_KEY`` (base64 of 32 bytes) or ``OPENLFR_KEY_FILE``; without one,
OpenLFR refuses to start, except in explicit development mode, which creates
``data_dir/openlfr.key`` (mode 0600) and says so on stderr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openlfr.errors import ConfigError, OpenLFRError
from openlfr.settings import Settings

__all__ = ["Keyring", "DecryptionError", "load_keyring", "generate_key", "aad_for",
           "DEV_KEY_NAME"]

MAGIC = b"OL1"
DEV_KEY_NAME = "openlfr.key"


class DecryptionError(OpenLFRError):
    """A blob did not decrypt: wrong key, or the ciphertext was altered or moved."""


def aad_for(table: str, row_id: int, column: str) -> bytes:
    """Associated data binding a ciphertext to one column of one row."""
    return f"openlfr:{table}:{row_id}:{column}".encode()


def generate_key() -> str:
    """A new key, base64 of 32 random bytes (what ``OPENLFR_KEY`` expects)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:4]


class Keyring:
    """Encrypts with the primary key; decrypts with any key it holds."""

    def __init__(self, primary: bytes, old: Sequence[bytes] = ()) -> None:
        for k in (primary, *old):
            if len(k) != 32:
                raise ConfigError(f"an encryption key must be 32 bytes, got {len(k)}")
        self._primary_id = _key_id(primary)
        self._keys = {_key_id(k): AESGCM(k) for k in (primary, *old)}

    @property
    def key_id(self) -> str:
        return self._primary_id.hex()

    def __repr__(self) -> str:  # never show key material
        return f"Keyring(key_id={self.key_id}, keys={len(self._keys)})"

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        ct = self._keys[self._primary_id].encrypt(nonce, plaintext, aad)
        return MAGIC + self._primary_id + nonce + ct

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < 3 + 4 + 12 + 16 or blob[:3] != MAGIC:
            raise DecryptionError(f"not an OpenLFR ciphertext ({aad.decode()})")
        kid, nonce, ct = blob[3:7], blob[7:19], blob[19:]
        aead = self._keys.get(kid)
        if aead is None:
            raise DecryptionError(f"{aad.decode()} was encrypted with key {kid.hex()}, which "
                                  "this keyring does not hold: set OPENLFR_KEY to that key")
        try:
            return aead.decrypt(nonce, ct, aad)
        except InvalidTag:
            raise DecryptionError(f"{aad.decode()} does not decrypt: altered, moved to another "
                                  "row, or a different key") from None


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where} is not base64: expected base64 of 32 random bytes "
                          "(make one with `openlfr key generate`)") from None
    if len(key) != 32:
        raise ConfigError(f"{where} decodes to {len(key)} bytes, expected 32 "
                          "(make one with `openlfr key generate`)")
    return key


def _read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"key file {path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"key file {path} is readable by other users "
                          f"(mode {stat.S_IMODE(mode):o}): run `chmod 600 {path}`")
    return _decode_key(path.read_text(), f"key file {path}")


def load_keyring(settings: Settings, *, dev: bool | None = None) -> Keyring:
    """The keyring from settings; refuses to go on without a key unless in development mode."""
    if settings.key is not None:
        return Keyring(_decode_key(settings.key.get_secret_value(), "OPENLFR_KEY"))
    if settings.key_file is not None:
        return Keyring(_read_key_file(settings.key_file))
    dev_path = settings.data_dir / DEV_KEY_NAME
    if dev if dev is not None else settings.dev:
        if not dev_path.exists():
            dev_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(dev_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(generate_key() + "\n")
            print(f"development mode: created encryption key file {dev_path} (mode 0600); "
                  "set OPENLFR_KEY or OPENLFR_KEY_FILE for real deployments", file=sys.stderr)
        return Keyring(_read_key_file(dev_path))
    raise ConfigError("no encryption key: set OPENLFR_KEY (base64 of 32 bytes; "
                      "`openlfr key generate` makes one) or OPENLFR_KEY_FILE, or use development "
                      "mode (OPENLFR_DEV=1 or --dev) to create a local key file")
