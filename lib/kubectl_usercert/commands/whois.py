"""`whois`: which user an audit-log credential id (X509SHA256=...), a fingerprint or a serial belongs to."""

import re
from dataclasses import dataclass

from ..errors import InvalidInput, UsercertError
from ..output.results import WhoisMatch, WhoisResult
from ..pki.certificate import plain_hex
from ..store import ledger


@dataclass(frozen=True, eq=False, repr=False)
class WhoisRequest:
    query: str
    out_dir: str = "clients"


def normalize_query(text):
    """('fingerprint'|'serial', normalized hex) for an audit-log credential id, fingerprint or serial."""
    value = re.sub(r"^x509sha256=", "", text.strip(), flags=re.IGNORECASE)
    value = plain_hex(re.sub(r"^0x", "", value, flags=re.IGNORECASE)).replace(" ", "")
    if not value or not re.fullmatch(r"[0-9a-f]+", value):
        raise InvalidInput(
            f"{text!r} is neither a fingerprint nor a serial",
            hint="give X509SHA256=<hex> from an audit log, a SHA-256 fingerprint, or a hex serial",
        )
    return ("fingerprint", value) if len(value) == 64 else ("serial", value.lstrip("0") or "0")


def _serial_hex(serial):
    return plain_hex(serial).lstrip("0") or "0"


def whois(request, progress=lambda _message: None):
    kind, value = normalize_query(request.query)
    # one streaming pass that keeps only the matches; it only reports, so a ledger that is not the
    # runner's own is read with a warning
    contents = ledger.read(
        request.out_dir,
        trust_required=False,
        keep=lambda entry: (
            (kind == "fingerprint" and entry.fingerprint_hex == value)
            or (kind == "serial" and bool(entry.serial) and _serial_hex(entry.serial) == value)
        ),
    )
    matches = tuple(
        WhoisMatch(
            user=entry.user,
            groups=entry.groups,
            serial=entry.serial,
            fingerprint_sha256=entry.fingerprint_sha256,
            not_before=entry.not_before,
            not_after=entry.not_after,
            key_type=entry.key_type,
            key_bits=entry.key_bits,
            directory=entry.path,
            event=entry.event,
            time=entry.time,
            cluster=entry.cluster,
            context=entry.context,
            server=entry.server,
        )
        for entry in contents.entries
    )
    if not matches:
        raise UsercertError(
            f"no certificate with that {kind} in the ledger of {request.out_dir}",
            hint="check --out-dir; the ledger only knows what this tool issued there",
        )
    return WhoisResult(request.query, matches, tuple(contents.warnings + contents.damaged))
