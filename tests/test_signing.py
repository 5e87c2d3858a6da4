"""Ed25519 against RFC 8032 §7.1 test vectors, and the failure modes of verify()."""

from __future__ import annotations

import pytest

from tallyproof.errors import SignatureError
from tallyproof.signing import PrivateKey, b64, key_id, unb64, verify

# RFC 8032 §7.1, TEST 1, TEST 2 and TEST 3: (secret key, public key, message, signature), hex.
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032, ids=["test1", "test2", "test3"])
def test_rfc8032_vectors(secret: str, public: str, message: str, signature: str) -> None:
    key = PrivateKey(bytes.fromhex(secret))
    assert key.public.hex() == public
    assert key.sign(bytes.fromhex(message)).hex() == signature
    verify(bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature), where="vector")


def test_a_changed_message_or_signature_or_key_fails() -> None:
    key, other = PrivateKey.generate(), PrivateKey.generate()
    sig = key.sign(b"table 010111043.01: 178 152")
    verify(key.public, b"table 010111043.01: 178 152", sig, where="sheet")
    with pytest.raises(SignatureError, match=f"does not verify with key {key_id(key.public)}"):
        verify(key.public, b"table 010111043.01: 178 153", sig, where="sheet")
    with pytest.raises(SignatureError, match="does not verify"):
        verify(other.public, b"table 010111043.01: 178 152", sig, where="sheet")
    with pytest.raises(SignatureError, match="64 bytes, this one 63"):
        verify(key.public, b"x", sig[:63], where="sheet")
    with pytest.raises(SignatureError, match="32 bytes, this one 31"):
        verify(key.public[:31], b"x", sig, where="sheet")


def test_private_key_text_round_trip_and_errors() -> None:
    key = PrivateKey.generate()
    assert PrivateKey.from_text(key.to_text(), where="k") == key
    with pytest.raises(SignatureError, match="not an Ed25519 private key"):
        PrivateKey.from_text("rsa:abc", where="k")
    with pytest.raises(SignatureError, match="32 bytes, this one 3"):
        PrivateKey.from_text("ed25519-private:" + b64(b"abc"), where="k")
    assert unb64(b64(b"\x00\xff" * 9), where="x") == b"\x00\xff" * 9
