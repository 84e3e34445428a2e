"""Key types: what --key-type offers, the sizes each takes, and what a key of each kind may do.

Every rule about keys lives here: the choices of the switch, the defaults (RSA 4096, as the blog
script this tool started from made them), what a user's own request must hold to be signed, and the
usages that go into a certificate (keyEncipherment only means something for RSA).
"""

from dataclasses import dataclass
from typing import Optional

from ..errors import InvalidInput

KEY_TYPES = ("rsa", "ecdsa", "ed25519")
RSA_SIZES = (2048, 3072, 4096, 8192)
EC_CURVES = {256: "P-256", 384: "P-384", 521: "P-521"}
DEFAULT_SIZES = {"rsa": 4096, "ecdsa": 256, "ed25519": None}
SIZES = {"rsa": RSA_SIZES, "ecdsa": tuple(EC_CURVES), "ed25519": ()}
SIZES_HELP = "RSA bits (2048, 3072, 4096, 8192) or ECDSA curve (256, 384, 521)"

# How openssl's text output names an algorithm, and how this tool shows it.
_ALGORITHMS = {"rsaEncryption": "RSA", "id-ecPublicKey": "ECDSA", "ED25519": "Ed25519"}
_SWITCH_VALUES = {"RSA": "rsa", "ECDSA": "ecdsa", "Ed25519": "ed25519"}


@dataclass(frozen=True, eq=False, repr=False)
class KeySpec:
    """A key to make: its type (as --key-type says it) and size (None: the type's default)."""

    type: str = "rsa"
    size: Optional[int] = None

    @property
    def bits(self):
        return self.size or DEFAULT_SIZES[self.type]

    def describe(self):
        return {"rsa": f"RSA {self.bits}", "ecdsa": f"ECDSA P-{self.bits}", "ed25519": "Ed25519"}[
            self.type
        ]

    @property
    def key_usage(self):
        """The X.509 keyUsage of a client certificate for this key (kubeadm's profile)."""
        return "digitalSignature,keyEncipherment" if self.type == "rsa" else "digitalSignature"

    @property
    def csr_usages(self):
        """The same, as the CertificateSigningRequest API names usages."""
        return ["client auth", "digital signature"] + (
            ["key encipherment"] if self.type == "rsa" else []
        )


def key_spec(key_type="rsa", key_size=None):
    """A checked KeySpec, or a one-line error saying what is allowed."""
    if key_type not in KEY_TYPES:
        raise InvalidInput(
            f"unknown key type {key_type!r}", hint="use --key-type rsa, ecdsa or ed25519"
        )
    if key_size is not None and key_size not in SIZES[key_type]:
        hint = (
            "ed25519 keys have a fixed size; drop --key-size"
            if not SIZES[key_type]
            else f"--key-size for {key_type} is one of {', '.join(map(str, SIZES[key_type]))}"
        )
        raise InvalidInput(f"key size {key_size} is not valid for {key_type}", hint=hint)
    return KeySpec(key_type, key_size)


def algorithm_name(openssl_name):
    """RSA, ECDSA or Ed25519 for openssl's 'Public Key Algorithm' name (others pass through)."""
    return _ALGORITHMS.get(openssl_name, openssl_name)


def spec_of(algorithm, bits):
    """The KeySpec of an existing key, from its algorithm name (RSA, ECDSA, Ed25519) and size."""
    key_type = _SWITCH_VALUES.get(algorithm)
    if key_type is None:
        raise InvalidInput(
            f"{algorithm} keys are not supported", hint="use RSA, ECDSA or Ed25519 keys"
        )
    return KeySpec(key_type, None if key_type == "ed25519" else bits)


def acceptable_request_key(algorithm, bits):
    """The KeySpec of a key in a user's own request, refusing keys too weak to sign for."""
    key_type = _SWITCH_VALUES.get(algorithm)
    weak = (key_type == "rsa" and (bits or 0) < 2048) or (
        key_type == "ecdsa" and bits not in EC_CURVES
    )
    if key_type is None or weak:
        size = f" {bits}-bit" if bits else ""
        raise InvalidInput(
            f"the request's{size} {algorithm} key is not accepted",
            hint="ask for RSA of 2048 bits or more, ECDSA P-256/P-384/P-521, or Ed25519",
        )
    return KeySpec(key_type, None if key_type == "ed25519" else bits)
