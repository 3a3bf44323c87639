"""The payload codec and the keys file, without a server: round trips, rotation, migration,
compression, and each key error naming the key id or the file."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from warroom.cli.render import encryption_line
from warroom.contract.codec import (
    COMPRESSION,
    KEY_ID,
    CodecKeyError,
    Keys,
    key_id_of,
    load_keys,
    new_key_line,
)
from warroom.contract.converter import data_converter, encrypts, plain_failure

K1 = ("k1", bytes(range(32)))
K2 = ("k2", bytes(range(32, 64)))
SECRET = {"title": "Checkout 5xx spike", "labels": {"customer": "ACME Corp"}}


def _keys_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "codec-keys"
    path.write_text(text)
    return path


async def test_round_trip_hides_the_payload_and_its_metadata() -> None:
    converter = data_converter(Keys.of([K1]))
    (payload,) = await converter.encode([SECRET])
    assert b"ACME" not in payload.SerializeToString()
    assert b"json/plain" not in payload.SerializeToString()  # the inner encoding is sealed too
    assert key_id_of(payload) == "k1"
    assert await converter.decode([payload], [dict]) == [SECRET]


async def test_rotation_old_payloads_decrypt_with_their_own_key() -> None:
    (old,) = await data_converter(Keys.of([K1])).encode([SECRET])
    rotated = data_converter(Keys.of([K2, K1]))
    (new,) = await rotated.encode([SECRET])
    assert key_id_of(new) == "k2"
    assert await rotated.decode([old, new], [dict, dict]) == [SECRET, SECRET]


async def test_unknown_key_id_is_named() -> None:
    (payload,) = await data_converter(Keys.of([K1])).encode([SECRET])
    with pytest.raises(
        CodecKeyError, match="encrypted with key k1, which this process does not have"
    ):
        await data_converter(Keys.of([K2])).decode([payload])


async def test_tampered_ciphertext_is_refused() -> None:
    (payload,) = await data_converter(Keys.of([K1])).encode([SECRET])
    data = bytearray(payload.data)
    data[-1] ^= 1
    tampered = Payload(metadata=payload.metadata, data=bytes(data))
    with pytest.raises(
        CodecKeyError, match="encrypted with key k1 does not decrypt: it was altered"
    ):
        await data_converter(Keys.of([K1])).decode([tampered])


async def test_a_key_id_changed_on_the_payload_does_not_decrypt() -> None:
    """The key id is authenticated: moving a payload to another key's id fails."""
    (payload,) = await data_converter(Keys.of([K1])).encode([SECRET])
    payload.metadata[KEY_ID] = b"k2"
    with pytest.raises(CodecKeyError, match="key k2 does not decrypt"):
        await data_converter(Keys.of([K2, K1])).decode([payload])


async def test_plain_payloads_pass_through() -> None:
    """Incidents started before encryption was turned on stay readable."""
    (plain,) = await data_converter().encode([SECRET])
    assert await data_converter(Keys.of([K1])).decode([plain], [dict]) == [SECRET]


async def test_large_payloads_are_compressed_before_encryption() -> None:
    big = {"notes": ["the same words again"] * 500}
    (payload,) = await data_converter(Keys.of([K1])).encode([big])
    (plain,) = await data_converter().encode([big])
    assert payload.metadata[COMPRESSION] == b"zlib"
    assert payload.ByteSize() < plain.ByteSize() / 5
    (small,) = await data_converter(Keys.of([K1])).encode(["short"])
    assert COMPRESSION not in small.metadata
    assert await data_converter(Keys.of([K1])).decode([payload], [dict]) == [big]


async def test_failure_message_is_encrypted_and_read_back() -> None:
    converter = data_converter(Keys.of([K1]))
    failure = Failure()
    converter.failure_converter.to_failure(
        ApplicationError("ACME Corp checkout is down", type="HttpError"),
        converter.payload_converter,
        failure,
    )
    await converter.payload_codec.encode_failure(failure)  # type: ignore[union-attr]
    assert b"ACME" not in failure.SerializeToString()
    assert failure.message == "Encoded failure"
    assert (await plain_failure(converter, failure)).message == "ACME Corp checkout is down"
    assert failure.message == "Encoded failure"  # a copy: the event is left as it was


def test_keys_file_first_line_is_current(tmp_path: Path) -> None:
    path = _keys_file(tmp_path, "# rotated 2026-12\n" + new_key_line("k2") + new_key_line("k1"))
    keys = load_keys(path)
    assert keys.current == "k2"
    assert set(keys.keys) == {"k1", "k2"}
    assert encrypts(data_converter(keys))
    assert not encrypts(data_converter())


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", r"codec-keys: no key"),
        ("k1 " + base64.b64encode(K1[1]).decode(), r"codec-keys:1: write `id: base64-key`"),
        ("k1: not base64!", r"codec-keys:1: key k1 is not valid base64"),
        (
            "k1: " + base64.b64encode(b"short").decode(),
            r"codec-keys:1: key k1 is 5 bytes; AES-256 needs 32",
        ),
        (new_key_line("k1") + new_key_line("k1"), r"codec-keys:2: key k1 is listed twice"),
    ],
)
def test_bad_keys_files_are_named(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(CodecKeyError, match=error):
        load_keys(_keys_file(tmp_path, text))


def test_missing_keys_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        CodecKeyError, match=r"WARROOM_CODEC_KEYS: cannot read the keys file .*/nowhere"
    ):
        load_keys(tmp_path / "nowhere")


async def test_codec_is_off_without_keys_and_says_what_an_encrypted_payload_needs() -> None:
    (plain,) = await data_converter().encode([SECRET])
    assert plain.metadata["encoding"] == b"json/plain"
    assert not encrypts(data_converter())
    (sealed,) = await data_converter(Keys.of([K1])).encode([SECRET])
    with pytest.raises(
        CodecKeyError,
        match="encrypted with key k1, which this process does not have: set WARROOM_CODEC_KEYS",
    ):
        await data_converter().decode([sealed])


def test_the_worker_refuses_to_start_without_a_usable_key(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).parent / "warroom")
    bad = _keys_file(tmp_path, "k1: " + base64.b64encode(b"x" * 16).decode() + "\n")
    for keys, error in [
        (str(tmp_path / "gone"), f"cannot read the keys file {tmp_path / 'gone'}"),
        (str(bad), f"{bad}:1: key k1 is 16 bytes; AES-256 needs 32"),
    ]:
        env = {**os.environ, "WARROOM_CODEC_KEYS": keys, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
        done = subprocess.run(
            [exe, "worker"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 1
        assert error in done.stderr and "Traceback" not in done.stderr


def test_show_says_which_runs_are_encrypted() -> None:
    assert encryption_line([None]) == "  payloads: plain (not encrypted)"
    assert encryption_line(["k1", "k1"]) == "  payloads: encrypted with key k1"
    assert encryption_line([None, "k2"]) == "  payloads: encrypted, run 1: plain, run 2: key k2"
