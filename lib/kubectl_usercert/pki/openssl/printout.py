"""What openssl prints about a certificate or a request, read into a CertificateInfo or RequestInfo
(pki/certificate.py).

Everything here parses output that every supported openssl prints alike (OpenSSL 1.1.1, 3.x,
LibreSSL 3.3.6+): `-subject` in RFC 2253 form, `-serial`, `-startdate`/`-enddate` in openssl's
own date format, `-fingerprint` whatever its label's case, `-pubkey`, and `-text`'s key and
extension lines. Nothing here starts a process.
"""

import re
from datetime import datetime, timezone

from ...errors import UsercertError
from .. import keys
from ..certificate import CertificateInfo, RequestInfo, pem_fingerprint, serial_and_public_key

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_DATE = re.compile(r"(\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4}) GMT")
_PEM_PUBLIC_KEY = re.compile(
    r"-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+?-----END PUBLIC KEY-----\n?"
)
_PEM_REQUEST = re.compile(
    r"-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+?-----END CERTIFICATE REQUEST-----\n?"
)


def parse_certificate(text, what):
    """CertificateInfo from `x509 -subject -issuer -serial -startdate -enddate -fingerprint -sha256
    -pubkey -text` output (see openssl.CERTIFICATE_FIELDS)."""
    fields = _key_value_lines(text)
    fingerprint = next(
        (value for key, value in fields.items() if key.lower() == "sha256 fingerprint"), None
    )
    public_key = _PEM_PUBLIC_KEY.search(text)
    try:
        return _described(
            text,
            fields["subject"],
            fields["issuer"],
            fields["serial"].strip().upper(),
            fields["notBefore"],
            fields["notAfter"],
            fingerprint.strip().upper(),
            public_key.group(0),
        )
    except (KeyError, AttributeError, ValueError) as exc:
        raise UsercertError(
            f"openssl's description of {what} could not be read",
            hint="check that the file is a certificate; report this with `openssl version`",
            details=str(exc) or None,
        ) from None


def parse_signing_details(stderr, pem, what):
    """CertificateInfo from what `openssl ca` says of the certificate it signs (its "Certificate
    Details:" block, with name_opt RFC2253,-dn_rev) and the PEM it wrote: names, dates, key and
    extensions from the block; the serial, the public key and the fingerprint from the DER itself.
    So one openssl run both signs and describes."""
    details = stderr.partition("Certificate Details:")[2]
    lines = {}
    for label in ("Issuer", "Subject", "Not Before", "Not After"):
        match = re.search(rf"^ +{label} *: (.*)$", details, re.M)
        lines[label] = match.group(1) if match else None
    try:
        serial, public_key = serial_and_public_key(pem)
        return _described(
            details,
            lines["Subject"],
            lines["Issuer"],
            serial,
            lines["Not Before"],
            lines["Not After"],
            pem_fingerprint(pem),
            public_key,
        )
    except (AttributeError, ValueError, TypeError, IndexError) as exc:
        raise UsercertError(
            f"openssl's description of {what} could not be read",
            hint="report this with `openssl version`",
            details=str(exc) or None,
        ) from None


def _described(text, subject, issuer, serial, not_before, not_after, fingerprint, public_key):
    """CertificateInfo from the parts both readings share; the key and extensions from -text's lines."""
    key_type, key_bits = _public_key_type(text)
    extensions = _extensions(text)
    return CertificateInfo(
        subject=parse_rfc2253(subject),
        issuer=parse_rfc2253(issuer),
        serial=serial,
        not_before=parse_date(not_before),
        not_after=parse_date(not_after),
        fingerprint_sha256=fingerprint,
        public_key=public_key,
        is_ca=bool(re.match(r"\s*CA:TRUE", extensions.get("X509v3 Basic Constraints", ""))),
        key_type=key_type,
        key_bits=key_bits,
        extended_key_usage=tuple(
            part.strip()
            for part in extensions.get("X509v3 Extended Key Usage", "").split(",")
            if part.strip()
        ),
        has_subject_key_id="X509v3 Subject Key Identifier" in extensions,
    )


def parse_request(text, what):
    """RequestInfo from `req -verify -subject -nameopt ...,show_type -pubkey -text` output plus the PEM."""
    fields = _key_value_lines(text)
    public_key, pem = _PEM_PUBLIC_KEY.search(text), _PEM_REQUEST.search(text)
    if "subject" not in fields or public_key is None or pem is None:
        raise UsercertError(
            f"openssl's description of {what} could not be read",
            hint="check that the file is a certificate signing request",
        )
    key_type, key_bits = _public_key_type(text)
    return RequestInfo(
        parse_rfc2253(fields["subject"]),
        public_key.group(0),
        key_type,
        key_bits,
        pem.group(0).encode("ascii"),
    )


def split_public_key(text):
    match = _PEM_PUBLIC_KEY.search(text)
    if match is None:
        raise UsercertError(
            "openssl printed no public key", hint="report this with `openssl version`"
        )
    return match.group(0)


def parse_date(text):
    """openssl's `Nov  9 03:38:37 2026 GMT`, month names in English whatever the locale."""
    match = _DATE.fullmatch(text.strip())
    if not match or match.group(1) not in _MONTHS:
        raise ValueError(f"unexpected date {text.strip()!r}")
    month, day, hour, minute, second, year = match.groups()
    return datetime(
        int(year),
        _MONTHS[month],
        int(day),
        int(hour),
        int(minute),
        int(second),
        tzinfo=timezone.utc,
    )


def _key_value_lines(text):
    """`name=value` lines at the start of a line (the -text block is indented, so never matches)."""
    fields = {}
    for line in text.splitlines():
        if line[:1].isspace() or line.startswith("-----"):
            continue
        key, sep, value = line.partition("=")
        # LibreSSL prints "subject= CN=x"; the value is otherwise kept as printed: an escaped
        # trailing space ("alice\\ ") is part of a name.
        if sep and key.strip() not in fields:
            fields[key.strip()] = value[1:] if value.startswith(" ") else value
    return fields


def _public_key_type(text):
    algorithm = re.search(r"^\s+Public Key Algorithm:\s*(\S+)", text, re.M)
    name = keys.algorithm_name(algorithm.group(1) if algorithm else "unknown")
    bits = re.search(r"Public-Key:\s*\((\d+) bit", text)
    return name, int(bits.group(1)) if bits and name != "Ed25519" else None


def _extensions(text):
    """{extension name: its value lines joined}, from -text's `X509v3 extensions:` block.

    Headers sit at one indentation and values deeper. A header seen twice is refused: a real
    certificate cannot repeat an extension, so a second one can only be text inside another
    extension's value (a comment, say) dressed up as a header.
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "X509v3 extensions:"), None)
    if start is None:
        return {}
    extensions, current, header_indent = {}, None, None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue  # LibreSSL ends some values with an empty line
        indent = len(line) - len(line.lstrip())
        if header_indent is not None and indent < header_indent:
            break
        if header_indent is None or indent == header_indent:
            header_indent = indent
            current = line.strip().split(":", 1)[0]
            if current in extensions:
                raise ValueError(f"extension {current} appears twice")
            extensions[current] = ""
        else:
            extensions[current] = (extensions[current] + " " + line.strip()).strip()
    return extensions


def parse_rfc2253(text):
    """Split openssl's RFC 2253 output (-nameopt RFC2253,-dn_rev) into (attribute, value) pairs.

    `\\X` escapes a character and `\\HH` a byte (esc_msb turns UTF-8 into such bytes), so the
    decoded values are exactly what the certificate holds.
    """
    pairs, raw, i = [], bytearray(), 0
    data = text.encode("utf-8")
    while i <= len(data):
        ch = data[i : i + 1]
        if ch == b"\\" and i + 1 < len(data):
            hexpair = data[i + 1 : i + 3]
            if len(hexpair) == 2 and re.fullmatch(rb"[0-9A-Fa-f]{2}", hexpair):
                raw.append(int(hexpair, 16))
                i += 3
            else:
                raw += data[i + 1 : i + 2]
                i += 2
            continue
        if ch in (b",", b"+", b""):
            attribute, _, value = bytes(raw).partition(b"=")
            if attribute:
                pairs.append((attribute.decode().strip(), value.decode("utf-8", "replace")))
            raw = bytearray()
        else:
            raw += ch
        i += 1
    return tuple(pairs)
