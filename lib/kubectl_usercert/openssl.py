"""The only module that runs openssl.

Every call is a list of arguments with stdin closed; no secret ever goes into argv (a CA key
passphrase travels as `-passin file:PATH`). Failures become UsercertError in the user's terms.
"""

import functools
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional, Tuple

from plumbum import local
from plumbum.commands.processes import CommandNotFound, ProcessExecutionError

from .errors import InvalidInput, ToolMissing, UsercertError
from .times import days_left

KEY_TYPES = ("rsa", "ecdsa", "ed25519")
DEFAULT_KEY_SIZES = {"rsa": 4096, "ecdsa": 256, "ed25519": None}
EC_CURVES = {256: "P-256", 384: "P-384", 521: "P-521"}
_ALGORITHM_NAMES = {"rsaEncryption": "RSA", "id-ecPublicKey": "ECDSA", "ED25519": "Ed25519"}
# A certificate's or request's key type (as CertificateInfo says it) as --key-type names it.
KEY_TYPE_SWITCH = {"RSA": "rsa", "ECDSA": "ecdsa", "Ed25519": "ed25519"}


@functools.lru_cache(maxsize=None)
def _openssl():
    try:
        return local["openssl"]
    except CommandNotFound:
        raise ToolMissing(
            "openssl was not found on PATH",
            hint="install OpenSSL (e.g. apt-get install openssl, brew install openssl)",
        ) from None


def run(args, what):
    """Run openssl with `args`; return its stdout. `what` says what failed, in the user's terms."""
    try:
        _, out, _ = _openssl().run(list(args), stdin=subprocess.DEVNULL)
    except ProcessExecutionError as exc:
        raise UsercertError(f"openssl could not {what}", details=_last_lines(exc.stderr)) from None
    return out


def _last_lines(text, count=4):
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return "\n".join(lines[-count:]) or None


def passin_args(passphrase_file):
    # An empty passphrase keeps openssl from prompting on the terminal for an encrypted key.
    return ["-passin", f"file:{passphrase_file}" if passphrase_file else "pass:"]


# --- keys and requests -------------------------------------------------------------------


def generate_key(path, key_type="rsa", key_size=None):
    """Write a new private key (PKCS#8 PEM). RSA through genrsa, as the original script did."""
    size = key_size or DEFAULT_KEY_SIZES[key_type]
    if key_type == "rsa":
        args = ["genrsa", "-out", path, str(size)]
    elif key_type == "ecdsa":
        args = ["genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{EC_CURVES[size]}",
                "-out", path]
    else:
        args = ["genpkey", "-algorithm", "ed25519", "-out", path]
    run(args, f"generate a {key_type} key")


def make_ca(cert_path, key_path, common_name, days):
    """A self-signed CA (for `demo`): an ECDSA P-256 key, CA:TRUE, keyCertSign."""
    generate_key(key_path, "ecdsa")
    run(["req", "-x509", "-new", "-key", key_path, "-subj", "/CN=" + common_name, "-days", str(days),
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-out", cert_path], "create the CA certificate")


def make_csr(key_path, subject, csr_path):
    run(["req", "-new", "-utf8", "-key", key_path, "-subj", subject.openssl_subj(), "-out", csr_path],
        "create the certificate signing request")


def sign_csr(csr_path, ca_cert, ca_key, *, days, serial_hex, extfile, cert_path, passphrase_file=None):
    run(["x509", "-req", "-sha256", "-in", csr_path, "-CA", ca_cert, "-CAkey", ca_key,
         *passin_args(passphrase_file), "-set_serial", f"0x{serial_hex}", "-days", str(days),
         "-extfile", extfile, "-out", cert_path],
        "sign the certificate with the CA")


def verify_chain(cert_path, ca_cert):
    """True when the certificate chains to ca_cert for client authentication."""
    try:
        _openssl().run(["verify", "-partial_chain", "-purpose", "sslclient", "-CAfile", ca_cert, cert_path],
                       stdin=subprocess.DEVNULL)
    except ProcessExecutionError:
        return False
    return True


def public_key_of_cert(cert_path):
    return run(["x509", "-in", cert_path, "-noout", "-pubkey"], f"read the certificate {cert_path}")


def public_key_of_key(key_path, passphrase_file=None):
    return run(["pkey", "-in", key_path, *passin_args(passphrase_file), "-pubout"],
               f"read the private key {key_path}")


def public_key_of_csr(csr_path):
    return run(["req", "-in", csr_path, "-noout", "-pubkey"], f"read the request {csr_path}")


@dataclass(frozen=True)
class RequestInfo:
    """What a certificate signing request asks for."""

    subject: Tuple[Tuple[str, str], ...]
    key_type: str
    key_bits: Optional[int]


def request_info(csr_path):
    """Read a CSR after checking its self-signature (proof that its maker holds the key)."""
    what = f"read the certificate signing request {csr_path}"
    form = ["-inform", "DER"] if _is_der(csr_path) else []
    _verify_request_signature(csr_path, form)
    fields = _key_value_lines(run(["req", "-in", csr_path, *form, "-noout", "-subject", "-nameopt",
                                   "RFC2253,-dn_rev,show_type"], what))
    key_type, key_bits = _public_key_type(run(
        ["req", "-in", csr_path, *form, "-noout", "-text", "-reqopt",
         "no_header,no_version,no_subject,no_extensions,no_sigdump,no_attributes"], what))
    return RequestInfo(_untyped(parse_rfc2253(fields.get("subject", "")), csr_path), key_type, key_bits)


# String types whose bytes Go and openssl read alike; T61String, say, openssl reads as Latin-1 and
# Go as raw bytes, so what is checked here would not be what the cluster sees.
_PLAIN_STRING_TYPES = ("UTF8STRING", "PRINTABLESTRING")


def _untyped(pairs, csr_path):
    plain = []
    for attribute, typed in pairs:
        string_type, _, value = typed.partition(":")
        if string_type not in _PLAIN_STRING_TYPES:
            raise InvalidInput(f"the request {csr_path} encodes {attribute} as {string_type}",
                               hint="ask for a request made with UTF-8 names (openssl req -utf8)")
        plain.append((attribute, value))
    return tuple(plain)


def _verify_request_signature(csr_path, form):
    # openssl 3.0 exits 0 even when the signature does not verify: read what it says.
    _, out, err = _openssl().run(["req", "-in", csr_path, *form, "-noout", "-verify"], retcode=None,
                                 stdin=subprocess.DEVNULL)
    if "verify OK" not in out + err:
        raise UsercertError(f"the signature of the request {csr_path} does not verify",
                            hint="the request was damaged or altered; ask its owner for a new one",
                            details=_last_lines(err))


def request_to_pem(csr_path, pem_path):
    form = ["-inform", "DER"] if _is_der(csr_path) else []
    run(["req", "-in", csr_path, *form, "-out", pem_path], f"read the certificate signing request {csr_path}")


def _is_der(path):
    with open(path, "rb") as handle:
        return b"-----BEGIN" not in handle.read(4096)


# --- reading certificates ----------------------------------------------------------------


@dataclass(frozen=True)
class CertificateInfo:
    subject: Tuple[Tuple[str, str], ...]  # (attribute, value) in certificate order
    issuer: Tuple[Tuple[str, str], ...]
    serial: str  # upper-case hex, no leading 0x
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str  # upper-case hex with colons, as openssl prints it
    is_ca: bool
    key_type: str  # RSA, ECDSA, Ed25519
    key_bits: Optional[int]
    extended_key_usage: Tuple[str, ...]

    @property
    def common_name(self):
        # kube-apiserver (Go) keeps the last CN when there are several.
        names = [value for attr, value in self.subject if attr == "CN"]
        return names[-1] if names else None

    @property
    def organizations(self):
        return tuple(value for attr, value in self.subject if attr == "O")

    def days_left(self, now=None):
        return days_left(self.not_after, now)

    @property
    def credential_id(self):
        return credential_id(self.fingerprint_sha256)


def credential_id(fingerprint):
    """The id kube-apiserver writes into audit logs for a certificate: X509SHA256=<hex of its DER's SHA-256>."""
    return "X509SHA256=" + fingerprint.replace(":", "").lower()


def certificate_info(path, *, what=None, form="PEM"):
    what = what or f"read the certificate {path}"
    fields = _key_value_lines(run(
        ["x509", "-in", path, "-inform", form, "-noout", "-dateopt", "iso_8601", "-nameopt", "RFC2253,-dn_rev",
         "-subject", "-issuer", "-serial", "-startdate", "-enddate", "-fingerprint", "-sha256"], what))
    key_type, key_bits = _public_key_type(run(
        ["x509", "-in", path, "-inform", form, "-noout", "-text", "-certopt",
         "no_header,no_version,no_serial,no_signame,no_validity,no_subject,no_issuer,no_extensions,no_sigdump,no_aux"],
        what))
    extensions = run(["x509", "-in", path, "-inform", form, "-noout", "-ext", "basicConstraints,extendedKeyUsage"],
                     what)
    return CertificateInfo(
        subject=parse_rfc2253(fields["subject"]),
        issuer=parse_rfc2253(fields["issuer"]),
        serial=fields["serial"].upper(),
        not_before=_parse_date(fields["notBefore"]),
        not_after=_parse_date(fields["notAfter"]),
        fingerprint_sha256=fields["sha256 Fingerprint"].upper(),
        is_ca=bool(re.search(r"CA:TRUE", extensions)),
        key_type=key_type,
        key_bits=key_bits,
        extended_key_usage=_extended_key_usage(extensions),
    )


def _key_value_lines(text):
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        # The value is kept as printed: an escaped trailing space ("alice\\ ") is part of a name.
        if sep and key.strip() not in fields:
            fields[key.strip()] = value
    return fields


def _parse_date(text):
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=timezone.utc)


def _public_key_type(text):
    algorithm = re.search(r"Public Key Algorithm:\s*(\S+)", text)
    name = algorithm.group(1) if algorithm else "unknown"
    bits = re.search(r"Public-Key:\s*\((\d+) bit", text)
    key_type = _ALGORITHM_NAMES.get(name, name)
    return key_type, int(bits.group(1)) if bits and key_type != "Ed25519" else None


def _extended_key_usage(text):
    match = re.search(r"Extended Key Usage:.*\n\s*(.+)", text)
    return tuple(part.strip() for part in match.group(1).split(",")) if match else ()


def parse_rfc2253(text):
    """Split openssl's RFC 2253 output (-nameopt RFC2253,-dn_rev) into (attribute, value) pairs.

    `\\X` escapes a character and `\\HH` a byte (esc_msb turns UTF-8 into such bytes), so the
    decoded values are exactly what the certificate holds.
    """
    pairs, raw, i = [], bytearray(), 0
    data = text.encode("utf-8")
    while i <= len(data):
        ch = data[i:i + 1]
        if ch == b"\\" and i + 1 < len(data):
            hexpair = data[i + 1:i + 3]
            if len(hexpair) == 2 and re.fullmatch(rb"[0-9A-Fa-f]{2}", hexpair):
                raw.append(int(hexpair, 16))
                i += 3
            else:
                raw += data[i + 1:i + 2]
                i += 2
            continue
        if ch in (b",", b"+", b""):
            attribute, _, value = bytes(raw).partition(b"=")
            if attribute:
                pairs.append((attribute.decode().strip(), value.decode("utf-8")))
            raw = bytearray()
        else:
            raw += ch
        i += 1
    return tuple(pairs)
