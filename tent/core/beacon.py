"""Signed manifests (seed 001): an entity's Ed25519 keys by `life`, proofs that it speaks for
a `turf` (a bare domain), and their checks. Pure: no I/O.

A proof is `{"turf", "life", "entity", "sign"}`, `sign` being the base64 Ed25519 signature
of the turf's UTF-8 bytes by the entity's key of that life. Keys are published in the meta
post's content as `keys: [{"life", "algorithm": "ed25519", "public_key"}]`; old lives stay
listed, so proofs made before a rotation can still be checked.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ALGORITHM = "ed25519"
MANIFEST_PATH = "/.well-known/appspecific/io.tent.beacon.json"
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class NotVerified(Exception):
    """A proof that does not hold; the message says why, in words for the owner."""


def check_turf(turf: Any) -> str:
    """A bare domain as seed 001 defines it (`localhost`, `example.com`): ASCII letters,
    digits and hyphens in dot-separated labels, no scheme, port, path or trailing dot.
    Returned lowercased, the form that is signed."""
    if not isinstance(turf, str) or not turf or len(turf) > 253:
        raise ValueError(f"not a bare domain: {turf!r}")
    lowered = turf.lower()
    if not all(_LABEL.fullmatch(label) for label in lowered.split(".")):
        raise ValueError(f"not a bare domain (no scheme, port, path or trailing dot): {turf!r}")
    return lowered


def _ed25519() -> Any:
    """The cryptography package, loaded on first use: a server that neither makes keys nor
    signs or checks proofs never pays its 6.5 MB of RSS (issue 14's memory target)."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519


def new_key(life: int, now: int) -> dict[str, Any]:
    """A fresh key pair as it is kept with the server's credentials (raw bytes, base64)."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    private: Ed25519PrivateKey = _ed25519().Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "life": life,
        "algorithm": ALGORITHM,
        "private_key": base64.b64encode(raw).decode(),
        "public_key": base64.b64encode(public).decode(),
        "created_at": now,
    }


def public_keys(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the meta post publishes: every life, oldest first, without the private halves."""
    return [
        {"life": k["life"], "algorithm": k["algorithm"], "public_key": k["public_key"]}
        for k in sorted(keys, key=lambda k: k["life"])
    ]


def sign(key: dict[str, Any], turf: str) -> str:
    private = _ed25519().Ed25519PrivateKey.from_private_bytes(base64.b64decode(key["private_key"]))
    return base64.b64encode(private.sign(turf.encode("utf-8"))).decode()


def proof(key: dict[str, Any], turf: str, entity: str) -> dict[str, Any]:
    return {"turf": turf, "life": key["life"], "entity": entity, "sign": sign(key, turf)}


def find_proof(manifest: Any, turf: str, entity: str) -> dict[str, Any]:
    """The manifest's proof that `entity` speaks for `turf`."""
    if not isinstance(manifest, list):
        raise NotVerified("the manifest is not an array of proofs")
    for item in manifest:
        if isinstance(item, dict) and item.get("entity") == entity and item.get("turf") == turf:
            return item
    raise NotVerified(f"the manifest has no proof for {entity}")


def life_of(proof_: dict[str, Any]) -> int:
    life = proof_.get("life")
    if not isinstance(life, int) or isinstance(life, bool) or life < 1:
        raise NotVerified("the proof's life is not a positive integer")
    return life


def verify(proof_: dict[str, Any], meta_content: Any) -> None:
    """Check a proof's signature against the key of its life published in the entity's meta
    post content; raises NotVerified with the reason."""
    life = life_of(proof_)
    keys = meta_content.get("keys") if isinstance(meta_content, dict) else None
    key = next(
        (
            k
            for k in keys or []
            if isinstance(k, dict) and k.get("life") == life and k.get("algorithm") == ALGORITHM
        ),
        None,
    )
    if key is None:
        raise NotVerified(f"the entity publishes no {ALGORITHM} key of life {life}")
    try:
        raw = base64.b64decode(str(key.get("public_key", "")), validate=True)
        public = _ed25519().Ed25519PublicKey.from_public_bytes(raw)
        signature = base64.b64decode(str(proof_.get("sign", "")), validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise NotVerified("the proof's signature or the published key is not valid base64 Ed25519") from None
    from cryptography.exceptions import InvalidSignature

    try:
        public.verify(signature, str(proof_["turf"]).encode("utf-8"))
    except InvalidSignature:
        raise NotVerified(f"the signature does not match the entity's key of life {life}") from None
