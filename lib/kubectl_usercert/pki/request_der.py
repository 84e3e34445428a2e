"""What a CertificateSigningRequest asks for, read from its DER in Python (no process per request):
the subject's attributes with their string types, the key's algorithm, and the extensions it asks
for. `approve` reads every pending request this way; the cluster checked each request's
self-signature when it was filed (kube-apiserver refuses one that does not verify).
"""

import base64
import re
from dataclasses import dataclass
from typing import Optional, Tuple

from .certificate import _items

_SEQUENCE, _SET, _OID, _ATTRIBUTES, _INTEGER, _BIT_STRING = 0x30, 0x31, 0x06, 0xA0, 0x02, 0x03
_NAMES = {"2.5.4.3": "CN", "2.5.4.10": "O"}
_STRING_TYPES = {0x0C: "UTF8STRING", 0x13: "PRINTABLESTRING"}
_KEY_TYPES = {
    "1.2.840.113549.1.1.1": "RSA",
    "1.2.840.10045.2.1": "ECDSA",
    "1.3.101.112": "Ed25519",
}
_CURVE_BITS = {"1.2.840.10045.3.1.7": 256, "1.3.132.0.34": 384, "1.3.132.0.35": 521}
EXTENSION_REQUEST = "1.2.840.113549.1.9.14"
SUBJECT_ALT_NAME = "2.5.29.17"
# The whole text must be one block, without PEM headers: the signer reads the FIRST block (Go's
# pem.Decode, headers allowed), so a reader that skipped a block it could not parse, or took one
# of several, would judge a request other than the one signed.
_PEM = re.compile(
    r"\s*-----BEGIN CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE REQUEST-----\s*"
)


@dataclass(frozen=True, eq=False, repr=False)
class RequestFacts:
    """subject: ((name, string type, value), ...) in order, a name this tool does not use as its OID
    and a string type it does not read as 'OTHER'; key_type: RSA, ECDSA, Ed25519 or the OID;
    key_bits: RSA's modulus bits, an ECDSA curve's bits (None for a curve this tool does not use);
    extensions: the OIDs of the extensions it asks for; public_key_der: its SubjectPublicKeyInfo."""

    subject: Tuple[Tuple[str, str, str], ...]
    key_type: str
    extensions: Tuple[str, ...]
    public_key_der: bytes
    key_bits: Optional[int] = None

    @property
    def common_names(self):
        return [value for name, _, value in self.subject if name == "CN"]

    @property
    def organizations(self):
        return tuple(value for name, _, value in self.subject if name == "O")

    @property
    def other_attributes(self):
        return [
            name
            for name, string_type, _ in self.subject
            if name not in ("CN", "O") or string_type == "OTHER"
        ]


def read_request(pem_or_der):
    """RequestFacts of a PEM (or DER) request; ValueError when it is not one."""
    data = pem_or_der
    if b"-----BEGIN" in pem_or_der:
        match = _PEM.fullmatch(pem_or_der.decode("ascii", "replace"))
        if match is None:
            raise ValueError("not one PEM certificate request and nothing else")
        data = base64.b64decode("".join(match.group(1).split()))
    try:
        return _facts(data)
    except (IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a certificate request ({exc})") from None


def _facts(data):
    [request] = _expect(_items(data, 0, len(data)), 1)
    info = _items(data, request[2], request[3])[0]
    fields = _items(data, info[2], info[3])
    if len(fields) < 3 or any(item[0] != _SEQUENCE for item in fields[1:3]):
        raise ValueError("not a certificate request")
    subject = tuple(_name(data, fields[1]))
    key_der = data[fields[2][1] : fields[2][3]]
    algorithm = _items(data, fields[2][2], fields[2][3])[0]
    key_oid = _oid(data, _items(data, algorithm[2], algorithm[3])[0])
    key_bits = _key_bits(data, key_oid, fields[2], algorithm)
    extensions = ()
    if len(fields) > 3 and fields[3][0] == _ATTRIBUTES:
        extensions = tuple(_requested_extensions(data, fields[3]))
    return RequestFacts(subject, _KEY_TYPES.get(key_oid, key_oid), extensions, key_der, key_bits)


def _key_bits(data, key_oid, key, algorithm):
    """The RSA modulus's bits, or the bits of a named curve this tool uses; else None."""
    if _KEY_TYPES.get(key_oid) == "ECDSA":
        parameters = _items(data, algorithm[2], algorithm[3])[1:]
        return _CURVE_BITS.get(_oid(data, parameters[0])) if parameters else None
    if _KEY_TYPES.get(key_oid) != "RSA":
        return None
    bits = _items(data, key[2], key[3])[1]
    if bits[0] != _BIT_STRING or data[bits[2]] != 0:
        raise ValueError("an RSA key that is not a whole bit string")
    [public] = _expect(_items(data, bits[2] + 1, bits[3]), 1)
    modulus = _items(data, public[2], public[3])[0]
    if modulus[0] != _INTEGER:
        raise ValueError("an RSA key without a modulus")
    return int.from_bytes(data[modulus[2] : modulus[3]], "big").bit_length()


def _expect(items, count):
    if len(items) != count:
        raise ValueError("not a certificate request")
    return items


def _name(data, name):
    for rdn in _items(data, name[2], name[3]):
        if rdn[0] != _SET:
            raise ValueError("a subject that is not a list of sets")
        for attribute in _items(data, rdn[2], rdn[3]):
            oid, value = _items(data, attribute[2], attribute[3])[:2]
            string_type = _STRING_TYPES.get(value[0], "OTHER")
            text = data[value[2] : value[3]].decode("utf-8", "replace")
            yield _NAMES.get(_oid(data, oid), _oid(data, oid)), string_type, text


def _requested_extensions(data, attributes):
    for attribute in _items(data, attributes[2], attributes[3]):
        oid, values = _items(data, attribute[2], attribute[3])[:2]
        if _oid(data, oid) != EXTENSION_REQUEST:
            yield _oid(data, oid)  # any other attribute counts as something asked for
            continue
        for extensions in _items(data, values[2], values[3]):
            for extension in _items(data, extensions[2], extensions[3]):
                yield _oid(data, _items(data, extension[2], extension[3])[0])


def _oid(data, item):
    if item[0] != _OID:
        raise ValueError("an object identifier was expected")
    raw = data[item[2] : item[3]]
    if not raw:
        raise ValueError("an empty object identifier")
    parts, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    first = min(parts[0] // 40, 2)
    return ".".join(map(str, [first, parts[0] - 40 * first, *parts[1:]]))
