"""Ed25519 signing for webhook (HTTP callback) mode, sans-IO (protocol.md §4.2).

The platform derives an Ed25519 key from the app secret: the secret is repeated until it is at least 32
bytes long and cut to 32 bytes; that is the RFC 8032 seed. Callbacks are signed over
``X-Signature-Timestamp + raw body``; the op 13 URL validation is answered by signing
``event_ts + plain_token``. Signatures travel as lowercase hex.

Nothing here logs or formats a secret; errors never include one.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "SIGNATURE_LENGTH",
    "derive_private_key",
    "derive_seed",
    "public_key_bytes",
    "sign",
    "sign_bytes",
    "signed_message",
    "validation_response",
    "verify",
]

SEED_LENGTH = 32
SIGNATURE_LENGTH = 64
"""Length in bytes of an Ed25519 signature (128 hex characters)."""


def derive_seed(secret: str) -> bytes:
    """The 32-byte seed: the UTF-8 secret repeated until it is at least 32 bytes, truncated to 32."""
    raw = secret.encode("utf-8")
    if not raw:
        raise ValueError("the app secret is empty")
    repeats = -(-SEED_LENGTH // len(raw))
    return (raw * repeats)[:SEED_LENGTH]


def derive_private_key(secret: str) -> Ed25519PrivateKey:
    """The Ed25519 private key the platform derives from ``secret``."""
    return Ed25519PrivateKey.from_private_bytes(derive_seed(secret))


def public_key_bytes(secret: str) -> bytes:
    """The raw 32-byte Ed25519 public key for ``secret``."""
    return derive_private_key(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def signed_message(timestamp: str | bytes, body: bytes | str) -> bytes:
    """The bytes that are signed: ``timestamp`` followed by the body exactly as sent (no re-serialisation)."""
    ts = timestamp.encode("utf-8") if isinstance(timestamp, str) else timestamp
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return ts + raw


def sign_bytes(secret: str | Ed25519PrivateKey, message: bytes) -> bytes:
    """Sign ``message``; returns the raw 64-byte signature."""
    key = secret if isinstance(secret, Ed25519PrivateKey) else derive_private_key(secret)
    return key.sign(message)


def sign(secret: str | Ed25519PrivateKey, message: bytes) -> str:
    """Sign ``message``; returns the signature as lowercase hex (what ``X-Signature-Ed25519`` carries)."""
    return sign_bytes(secret, message).hex()


def _public_key(key: str | bytes | Ed25519PrivateKey | Ed25519PublicKey) -> Ed25519PublicKey | None:
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, Ed25519PrivateKey):
        return key.public_key()
    if isinstance(key, bytes):
        if len(key) != 32:
            return None
        try:
            return Ed25519PublicKey.from_public_bytes(key)
        except ValueError:
            return None
    if isinstance(key, str) and key:
        return derive_private_key(key).public_key()
    return None


def verify(
    secret_or_public_key: str | bytes | Ed25519PrivateKey | Ed25519PublicKey,
    message: bytes,
    signature_hex: str | bytes | None,
) -> bool:
    """True when ``signature_hex`` is a valid signature of ``message``; never raises on bad input.

    ``secret_or_public_key`` is the app secret (``str``), a raw 32-byte public key (``bytes``) or a
    ``cryptography`` key object. The signature must hex-decode to exactly 64 bytes with
    ``sig[63] & 224 == 0`` (the check the platform documents; it rejects non-canonical ``S`` early).
    """
    try:
        if signature_hex is None:
            return False
        text = signature_hex.decode("ascii") if isinstance(signature_hex, bytes) else signature_hex
        if not isinstance(text, str) or len(text) != 2 * SIGNATURE_LENGTH:
            return False
        sig = bytes.fromhex(text)
        if len(sig) != SIGNATURE_LENGTH or sig[63] & 224 != 0:
            return False
        key = _public_key(secret_or_public_key)
        if key is None or not isinstance(message, bytes | bytearray | memoryview):
            return False
        key.verify(sig, bytes(message))
    except (InvalidSignature, ValueError, TypeError, UnicodeError):
        return False
    return True


def validation_response(secret: str | Ed25519PrivateKey, plain_token: str, event_ts: str) -> dict[str, str]:
    """The op 13 URL-validation answer: ``{"plain_token", "signature"}``, signed over ``event_ts + plain_token``."""
    signature = sign(secret, signed_message(event_ts, plain_token))
    return {"plain_token": plain_token, "signature": signature}
