"""The few facts read straight from a certificate's DER: its serial and its public key.

`openssl ca` describes the certificate it signs, but not in every form certinfo needs (no PEM
public key, the serial in two layouts); these two come from the bytes it wrote instead. Nothing
here starts a process or trusts a length it has not checked.
"""

import base64
import re

_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+?-----END CERTIFICATE-----")


def serial_and_public_key(pem):
    """(serial as openssl prints it: upper-case hex, two digits a byte; the SubjectPublicKeyInfo as
    PEM, as `openssl ... -pubkey` prints it) of the first certificate of PEM bytes. ValueError (or
    IndexError) when it is not a certificate."""
    match = _PEM_CERTIFICATE.search(pem.decode("ascii", "replace"))
    if match is None:
        raise ValueError("no PEM certificate")
    data = base64.b64decode("".join(match.group(0).splitlines()[1:-1]))
    certificate = _items(data, 0, len(data))[0]
    tbs = _items(data, certificate[2], certificate[3])[0]
    # TBSCertificate: [0] version (optional), serial, signature, issuer, validity, subject, key, ...
    fields = _items(data, tbs[2], tbs[3])
    if fields[0][0] == 0xA0:
        fields = fields[1:]
    serial, key = fields[0], fields[5]
    serial_hex = data[serial[2]:serial[3]].lstrip(b"\0").hex().upper() or "00"
    encoded = base64.b64encode(data[key[1]:key[3]]).decode("ascii")
    body = "\n".join(encoded[i:i + 64] for i in range(0, len(encoded), 64))
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
            length, value = int.from_bytes(data[value:value + size], "big"), value + size
        if value + length > end:
            raise ValueError("truncated DER")
        items.append((tag, start, value, value + length))
        start = value + length
    return items
