"""The official signing vectors (protocol.md §4.3) and the signature checks of framework.protocol.signing."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from signing_vectors import (
    V1_PUBLIC,
    V1_SECRET,
    V2_SECRET,
    V2_SIGNATURE,
    V3_BODY_DISPLAYED,
    V3_BODY_PRETTY,
    V3_SIGNATURE,
    V4_BODY,
    V4_SECRET,
    V4_SIGNATURE,
    V4_TIMESTAMP,
)

from framework.protocol import signing


def test_v1_key_derivation() -> None:
    seed = signing.derive_seed(V1_SECRET)
    assert seed == b"naOC0ocQE3shWLAfffVLB1rhYPG7naOC"
    assert seed.hex() == "6e614f43306f635145337368574c41666666564c42317268595047376e614f43"
    assert signing.public_key_bytes(V1_SECRET).hex() == V1_PUBLIC
    expected_private = [110, 97, 79, 67, 48, 111, 99, 81, 69, 51, 115, 104, 87, 76, 65, 102]
    expected_private += [102, 102, 86, 76, 66, 49, 114, 104, 89, 80, 71, 55, 110, 97, 79, 67]
    assert list(seed) == expected_private


def test_v2_validation_response() -> None:
    answer = signing.validation_response(V2_SECRET, "Arq0D5A61EgUu4OxUvOp", "1725442341")
    assert answer == {"plain_token": "Arq0D5A61EgUu4OxUvOp", "signature": V2_SIGNATURE}
    assert signing.verify(V2_SECRET, b"1725442341Arq0D5A61EgUu4OxUvOp", V2_SIGNATURE)


def test_v3_verifies_with_pretty_printed_body_only() -> None:
    assert signing.verify(V1_SECRET, b"1725442341" + V3_BODY_PRETTY, V3_SIGNATURE)
    assert not signing.verify(V1_SECRET, b"1725442341" + V3_BODY_DISPLAYED, V3_SIGNATURE)
    # with the public key instead of the secret
    assert signing.verify(bytes.fromhex(V1_PUBLIC), b"1725442341" + V3_BODY_PRETTY, V3_SIGNATURE)


def test_v4_botgo_request_signature() -> None:
    message = signing.signed_message(V4_TIMESTAMP, V4_BODY)
    assert signing.derive_seed(V4_SECRET) == b"123456abcdef123456abcdef123456ab"
    assert signing.verify(V4_SECRET, message, V4_SIGNATURE)
    assert signing.verify(V4_SECRET, message, V4_SIGNATURE.upper())
    assert not signing.verify(V4_SECRET, message + b" ", V4_SIGNATURE)
    assert not signing.verify(V4_SECRET, signing.signed_message("1728981196", V4_BODY), V4_SIGNATURE)
    assert not signing.verify("123456abcdeg", message, V4_SIGNATURE)


def test_sign_round_trip_and_key_object() -> None:
    key = signing.derive_private_key("s3cr3t")
    assert isinstance(key, Ed25519PrivateKey)
    sig = signing.sign("s3cr3t", b"hello")
    assert len(sig) == 128 and sig == sig.lower()
    assert sig == signing.sign(key, b"hello")
    assert signing.verify(key.public_key(), b"hello", sig)
    assert signing.verify(key, b"hello", sig)
    assert signing.verify("s3cr3t", b"hello", sig.encode())


def test_long_secret_is_truncated_to_32_bytes() -> None:
    secret = "x" * 40
    assert signing.derive_seed(secret) == b"x" * 32
    assert signing.public_key_bytes(secret) == signing.public_key_bytes("x" * 32)


def test_empty_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="empty"):
        signing.derive_seed("")


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        "zz" * 64,
        V4_SIGNATURE[:-2],
        V4_SIGNATURE + "00",
        " " + V4_SIGNATURE[1:],
        "é" * 128,
        b"\xff" * 128,
    ],
)
def test_verify_rejects_malformed_signatures_without_raising(bad: str | bytes | None) -> None:
    assert signing.verify(V4_SECRET, signing.signed_message(V4_TIMESTAMP, V4_BODY), bad) is False


def test_verify_rejects_high_bits_in_last_byte() -> None:
    message = b"123hello"
    sig = bytearray(signing.sign_bytes("secret", message))
    assert sig[63] & 224 == 0  # a canonical signature never has them set
    sig[63] |= 0x80
    assert not signing.verify("secret", message, sig.hex())


@pytest.mark.parametrize("key", ["", b"short", b"\x00" * 31, 42])
def test_verify_rejects_bad_keys_without_raising(key: object) -> None:
    sig = signing.sign("secret", b"m")
    assert signing.verify(key, b"m", sig) is False  # type: ignore[arg-type]


def test_verify_rejects_non_bytes_message() -> None:
    sig = signing.sign("secret", b"m")
    assert signing.verify("secret", "m", sig) is False  # type: ignore[arg-type]
