"""A certificate and a request as this tool knows them (CertificateInfo, RequestInfo: what
openssl/printout.py reads from openssl's output), and the few facts read straight from a
certificate's bytes, without starting openssl: its SHA-256 fingerprint, its audit-log id, its
serial and its public key. Nothing here starts a process or trusts a length it has not checked.
"""

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional, Tuple

from ..times import days_left

_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+?-----END CERTIFICATE-----\n?"
)
CLIENT_AUTH = "TLS Web Client Authentication"
# The window of a certificate this tool issues: at least MIN_VALIDITY (the CSR API's least
# expirationSeconds, 600; a local CA keeps to it too), from BACKDATE before it was signed (as
# kube-controller-manager's signer backdates notBefore, so a client whose clock runs ahead accepts it).
MIN_VALIDITY = timedelta(minutes=10)
BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True, eq=False, repr=False)
class CertificateInfo:
    subject: Tuple[Tuple[str, str], ...]  # (attribute, value) in certificate order
    issuer: Tuple[Tuple[str, str], ...]
    serial: str  # upper-case hex, no leading 0x
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str  # upper-case hex with colons, as openssl prints it
    public_key: str  # PEM, to compare with a key's
    is_ca: bool
    key_type: str  # RSA, ECDSA, Ed25519
    key_bits: Optional[int]
    extended_key_usage: Tuple[str, ...]
    has_subject_key_id: bool = False

    @property
    def common_name(self):
        # kube-apiserver (Go) keeps the last CN when there are several.
        names = [value for attr, value in self.subject if attr == "CN"]
        return names[-1] if names else None

    @property
    def organizations(self):
        return tuple(value for attr, value in self.subject if attr == "O")

    @property
    def self_issued(self):
        return self.subject == self.issuer

    @property
    def allows_client_auth(self):
        # No extendedKeyUsage at all allows every usage, as Go's verifier reads it.
        return not self.extended_key_usage or CLIENT_AUTH in self.extended_key_usage

    def days_left(self, now=None):
        return days_left(self.not_after, now)

    @property
    def fingerprint_hex(self):
        return plain_hex(self.fingerprint_sha256)

    @property
    def credential_id(self):
        return credential_id(self.fingerprint_sha256)


@dataclass(frozen=True, eq=False, repr=False)
class RequestInfo:
    """What a certificate signing request asks for (its self-signature already checked)."""

    subject: Tuple[
        Tuple[str, str], ...
    ]  # values with their string type: ("CN", "UTF8STRING:alice")
    public_key: str
    key_type: str
    key_bits: Optional[int]
    pem: bytes


def plain_hex(text):
    """A fingerprint or serial as bare lower-case hex: openssl's AB:CD:EF and abcdef alike."""
    return (text or "").replace(":", "").lower()


def public_key_fingerprint(public_key_pem):
    """The SHA-256 of a public key's SubjectPublicKeyInfo DER, as lower-case hex: what names a key in
    the person's store (keys/<hex>.key), read from the PEM openssl prints (`-pubkey`, `-pubout`)."""
    body = "".join(
        line
        for line in public_key_pem.strip().splitlines()
        if line and not line.startswith("-----")
    )
    return hashlib.sha256(base64.b64decode(body, validate=True)).hexdigest()


def credential_id(fingerprint):
    """The id kube-apiserver writes into audit logs for a certificate: X509SHA256=<hex of its DER's SHA-256>."""
    return "X509SHA256=" + plain_hex(fingerprint)


def pem_fingerprint(pem):
    """The SHA-256 fingerprint openssl prints for the first certificate of PEM bytes (of its DER), to
    recognise a CA file without starting openssl; None when there is no certificate."""
    data = _first_der(pem)
    if data is None:
        return None
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(data).digest())


def pem_certificates(data):
    """Each PEM certificate block of `data` (bytes), as bytes ending in a newline; what is around
    them is left out."""
    text = data.decode("ascii", "replace").replace("\r\n", "\n")
    return [
        match.group(0).rstrip("\n").encode("ascii") + b"\n"
        for match in _PEM_CERTIFICATE.finditer(text)
    ]


def _first_der(pem):
    """The DER bytes of the first PEM certificate in `pem`; None when there is none."""
    match = _PEM_CERTIFICATE.search(pem.decode("ascii", "replace"))
    if match is None:
        return None
    return base64.b64decode("".join(match.group(0).strip().splitlines()[1:-1]))


def serial_and_public_key(pem):
    """(serial as openssl prints it: upper-case hex, two digits a byte; the SubjectPublicKeyInfo as
    PEM, as `openssl ... -pubkey` prints it) of the first certificate of PEM bytes, read from its
    DER (`openssl ca` describes the certificate it signs, but prints neither in the form needed).
    ValueError (or IndexError) when it is not a certificate."""
    data = _first_der(pem)
    if data is None:
        raise ValueError("no PEM certificate")
    certificate = _items(data, 0, len(data))[0]
    tbs = _items(data, certificate[2], certificate[3])[0]
    # TBSCertificate: [0] version (optional), serial, signature, issuer, validity, subject, key, ...
    fields = _items(data, tbs[2], tbs[3])
    if fields[0][0] == 0xA0:
        fields = fields[1:]
    serial, key = fields[0], fields[5]
    serial_hex = data[serial[2] : serial[3]].lstrip(b"\0").hex().upper() or "00"
    encoded = base64.b64encode(data[key[1] : key[3]]).decode("ascii")
    body = "\n".join(encoded[i : i + 64] for i in range(0, len(encoded), 64))
    return serial_hex, f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"


def _items(data, start, end):
    """(tag, start, value start, value end) of each DER item from start to end."""
    items = []
    while start < end:
        if start + 2 > end:
            raise ValueError("truncated DER")
        tag, length, value = data[start], data[start + 1], start + 2
        if length & 0x80:
            size = length & 0x7F
            length, value = int.from_bytes(data[value : value + size], "big"), value + size
        if value + length > end:
            raise ValueError("truncated DER")
        items.append((tag, start, value, value + length))
        start = value + length
    return items
