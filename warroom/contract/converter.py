"""The one data converter factory: every client, worker and replayer gets its converter here.

Pydantic payloads; with keys (`WARROOM_CODEC_KEYS`, see `warroom.contract.codec`) every payload
is encrypted, and a failure's message and stack trace travel as an encrypted payload too
(`encode_common_attributes`): Temporal then stores "Encoded failure" in their place, and
`plain_failure` gives readers of raw history events the message back."""

from __future__ import annotations

from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
)

from warroom.contract.codec import EncryptionCodec, Keys, configured_keys


def data_converter(keys: Keys | None = None) -> DataConverter:
    """Pydantic payloads, encrypted with `keys` when given (without, an encrypted payload is
    an error that says to set WARROOM_CODEC_KEYS)."""
    if keys is None:
        return DataConverter(
            payload_converter_class=PydanticPayloadConverter, payload_codec=EncryptionCodec(None)
        )
    return DataConverter(
        payload_converter_class=PydanticPayloadConverter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def configured_converter() -> DataConverter:
    """The converter $WARROOM_CODEC_KEYS asks for (a CodecKeyError when its file is unusable:
    a worker never starts without a usable current key)."""
    return data_converter(configured_keys())


def encrypts(converter: DataConverter) -> bool:
    codec = converter.payload_codec
    return isinstance(codec, EncryptionCodec) and codec.keys is not None


async def plain_failure(converter: DataConverter, failure: Failure) -> Failure:
    """A copy of a failure from a history event with its payloads decoded and its encoded
    message and stack trace (at every level of its causes) put back in place."""
    plain = Failure()
    plain.CopyFrom(failure)
    if converter.payload_codec is not None:
        await converter.payload_codec.decode_failure(plain)
    level: Failure | None = plain
    while level is not None:
        if level.HasField("encoded_attributes"):
            (attributes,) = converter.payload_converter.from_payloads([level.encoded_attributes])
            if isinstance(attributes, dict):
                level.message = str(attributes.get("message") or "")
                level.stack_trace = str(attributes.get("stack_trace") or "")
        level = level.cause if level.HasField("cause") else None
    return plain
