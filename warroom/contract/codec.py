"""Payload encryption: AES-256-GCM over every payload a client, worker or replayer sends to
Temporal, with keys the team holds (`WARROOM_CODEC_KEYS`).

The keys file has one `id: base64-key` line per key (32 bytes each, `#` comments allowed); the
first line is the current key, which encrypts. Rotation is a new first line: payloads keep the
id of the key that encrypted them, so older ones still decrypt while their key is listed.

An encrypted payload is the whole original payload (its metadata included) serialized,
compressed with zlib when it is over `COMPRESS_ABOVE` bytes, and sealed with a random 96-bit
nonce; its metadata is only `encoding: binary/encrypted`, the key id and the compression. A
payload without that encoding is passed through as it is: incidents started before encryption
was turned on stay readable.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from warroom.errors import WarroomError

KEYS_ENV = "WARROOM_CODEC_KEYS"
ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
COMPRESSION = "warroom-compression"
ZLIB = b"zlib"
#: Payloads larger than this (serialized) are compressed before they are encrypted.
COMPRESS_ABOVE = 1024
KEY_BYTES = 32
NONCE_BYTES = 12
#: Temporal refuses payloads over 2 MiB: nothing larger is ever decompressed.
MAX_PLAIN_BYTES = 4 * 1024 * 1024
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class CodecKeyError(WarroomError):
    """The keys file is unusable, or a payload cannot be decrypted with the keys it holds."""


@dataclass(frozen=True)
class Keys:
    """The keys of one keys file: `current` encrypts, every one decrypts its own payloads."""

    current: str
    keys: dict[str, bytes]
    source: str

    @classmethod
    def of(cls, lines: Sequence[tuple[str, bytes]], source: str = "the keys") -> Keys:
        """Keys from (id, key) pairs, the first current (tests and `warroom dev` build them)."""
        return cls(lines[0][0], dict(lines), source)


def new_key_line(key_id: str) -> str:
    """A keys-file line with a fresh random key."""
    return f"{key_id}: {base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}\n"


def load_keys(path: str | Path) -> Keys:
    """The keys of the file at `path`; a clear error naming the file (and line) if unusable."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CodecKeyError(
            f"{KEYS_ENV}: cannot read the keys file {path} ({exc.strerror or exc}): "
            "write `id: base64-key` lines there (`warroom dev --encrypt` makes one)"
        ) from exc
    found: list[tuple[str, bytes]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{path}:{number}"
        key_id, colon, encoded = (part.strip() for part in line.partition(":"))
        if not colon or not _KEY_ID.match(key_id):
            raise CodecKeyError(
                f"{where}: write `id: base64-key`, the id of letters, digits, `.`, `_` or `-`"
            )
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise CodecKeyError(f"{where}: key {key_id} is not valid base64") from exc
        if len(key) != KEY_BYTES:
            raise CodecKeyError(
                f"{where}: key {key_id} is {len(key)} bytes; AES-256 needs {KEY_BYTES} "
                "(e.g. `head -c 32 /dev/urandom | base64`)"
            )
        if any(key_id == known for known, _ in found):
            raise CodecKeyError(f"{where}: key {key_id} is listed twice")
        found.append((key_id, key))
    if not found:
        raise CodecKeyError(f"{path}: no key: the first `id: base64-key` line is the current key")
    return Keys.of(found, str(path))


def configured_keys() -> Keys | None:
    """The keys of $WARROOM_CODEC_KEYS, or None when it is not set (encryption off)."""
    path = os.environ.get(KEYS_ENV)
    return load_keys(path) if path else None


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCODING


def key_id_of(payload: Payload) -> str | None:
    """The id of the key an encrypted payload was sealed with (None: not encrypted)."""
    return payload.metadata[KEY_ID].decode() if is_encrypted(payload) else None


class EncryptionCodec(PayloadCodec):
    """Encrypts with the current key of `keys`; without keys it encrypts nothing, and says
    clearly that an encrypted payload needs them (a process started without
    WARROOM_CODEC_KEYS reading an encrypted incident)."""

    def __init__(self, keys: Keys | None, compress_above: int | None = COMPRESS_ABOVE) -> None:
        self.keys, self._compress_above = keys, compress_above
        known = keys.keys if keys is not None else {}
        self._ciphers = {key_id: AESGCM(key) for key_id, key in known.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads] if self.keys is not None else list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        assert self.keys is not None
        key_id = self.keys.current
        plain = payload.SerializeToString()
        metadata = {"encoding": ENCODING, KEY_ID: key_id.encode()}
        if self._compress_above is not None and len(plain) > self._compress_above:
            plain = zlib.compress(plain)
            metadata[COMPRESSION] = ZLIB
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, plain, key_id.encode())
        return Payload(metadata=metadata, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        key_id = key_id_of(payload)
        if key_id is None:
            return payload  # written before encryption was on
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            where = (
                f"add it to {self.keys.source} ({KEYS_ENV}) below the current key"
                if self.keys is not None
                else f"set {KEYS_ENV} to the keys file"
            )
            raise CodecKeyError(
                f"a payload is encrypted with key {key_id}, which this process does not have: "
                + where
            )
        try:
            plain = cipher.decrypt(
                payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode()
            )
        except InvalidTag as exc:
            raise CodecKeyError(
                f"a payload encrypted with key {key_id} does not decrypt: it was altered, or "
                f"key {key_id} in {self.keys.source if self.keys else KEYS_ENV} is not the key "
                "that encrypted it"
            ) from exc
        if payload.metadata.get(COMPRESSION) == ZLIB:
            inflate = zlib.decompressobj()
            plain = inflate.decompress(plain, MAX_PLAIN_BYTES)
            if inflate.unconsumed_tail:
                raise CodecKeyError(
                    f"a payload of key {key_id} inflates past {MAX_PLAIN_BYTES:,} bytes"
                )
        return Payload.FromString(plain)
