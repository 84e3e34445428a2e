"""One ledger record (`LedgerEntry`): its fields, and how a JSON line holds them.

The one schema of the ledger: written by `ledger.append`, read by `ledger.read`, nowhere else by
key strings. A line's values are type-checked as they are read: a wrong type is a damaged line.
"""

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Optional, Tuple

from ..errors import InvalidInput
from ..pki.certificate import BACKDATE, plain_hex
from ..times import iso, parse_duration, parse_iso

EVENTS = ("issued", "renewed", "adopted", "revoked")


@dataclass(frozen=True, eq=False, repr=False)
class LedgerEntry:
    event: str
    user: str
    groups: Tuple[str, ...] = ()
    time: Optional[datetime] = None  # set when appended
    serial: Optional[str] = None
    fingerprint_sha256: Optional[str] = None
    not_before: Optional[datetime] = None
    not_after: Optional[datetime] = None
    key_type: Optional[str] = None  # RSA, ECDSA, Ed25519
    key_bits: Optional[int] = None
    signer: Optional[str] = None  # local or csr
    ca_fingerprint_sha256: Optional[str] = None
    ca_cert: Optional[str] = None  # the CA files given on the command line, so renew can sign alike
    ca_key: Optional[str] = None
    cluster: Optional[str] = None
    server: Optional[str] = None
    path: Optional[str] = None  # the user's folder
    lifetime: Optional[str] = None  # the lifetime asked for (30d, 8h), so renew asks for the same
    approval: Optional[str] = None  # csr: "self" (this tool approved it: --approve) or "others"
    previous_serial: Optional[str] = None  # renewed
    key_held_by: Optional[str] = None  # "owner" when the key never came here (sign --csr)
    self_renew: Optional[bool] = None  # True: the user may renew it themselves (approve approves)
    context: Optional[str] = None  # the admin kubeconfig's context it was issued through
    fleet: Tuple[
        str, ...
    ] = ()  # a fleet's record: every cluster of the person (see store/clusters.py)
    bindings_removed: Tuple[str, ...] = ()  # revoked
    archived_to: Optional[str] = None  # revoked

    @classmethod
    def of_certificate(cls, event, user, info, **recorded):
        """The entry for a certificate as openssl describes it (pki.certificate.CertificateInfo):
        its groups, serial, fingerprint, window and key; the other fields as given."""
        return cls(
            event=event,
            user=user,
            groups=info.organizations,
            serial=info.serial,
            fingerprint_sha256=info.fingerprint_sha256,
            not_before=info.not_before,
            not_after=info.not_after,
            key_type=info.key_type,
            key_bits=info.key_bits,
            **recorded,
        )

    @property
    def fingerprint_hex(self):
        return plain_hex(self.fingerprint_sha256)

    def asked_lifetime(self):
        """The lifetime this certificate was asked for, as recorded; else (a line written before the
        ledger recorded it, an adopted certificate) as its window says (see lifetime_of_window)."""
        if self.lifetime:
            try:
                return parse_duration(self.lifetime, "the recorded lifetime")
            except InvalidInput:
                pass
        return lifetime_of_window(self.not_before, self.not_after)

    def to_json(self):
        record = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None or value == ():
                continue
            record[_KEYS[spec.name]] = (
                iso(value)
                if isinstance(value, datetime)
                else list(value)
                if isinstance(value, tuple)
                else value
            )
        return record

    @classmethod
    def from_json(cls, record):
        """The entry a parsed line holds; ValueError saying what is wrong with it."""
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        values = {}
        for (
            name,
            key,
        ) in _KEYS.items():  # every field, in order (not fields(): a ledger has many lines)
            raw = record.get(key)
            if raw is not None:
                values[name] = _typed(name, raw)
        if values.get("event") not in EVENTS:
            raise ValueError(f"unknown event {record.get('event')!r}")
        if "user" not in values:
            raise ValueError("no user")
        return cls(**values)


def lifetime_of_window(not_before, not_after):
    """The lifetime a certificate valid from not_before to not_after was most likely asked for: the
    window rounded down to the minute, less the five minutes signers backdate notBefore when it ends
    five minutes past a round ten minutes (2h05m is 2h); an uneven window errs shorter, never longer.
    None without both dates."""
    if not_before is None or not_after is None or not_after - not_before < 2 * BACKDATE:
        return None
    window = timedelta(minutes=(not_after - not_before) // timedelta(minutes=1))
    return window - BACKDATE if window % timedelta(minutes=10) == BACKDATE else window


# camelCase as kubectl writes JSON; fingerprints as the -o json output names them.
_KEYS = {
    spec.name: spec.name.split("_")[0] + "".join(part.title() for part in spec.name.split("_")[1:])
    for spec in fields(LedgerEntry)
}
_KEYS.update(
    fingerprint_sha256="fingerprintSHA256",
    ca_fingerprint_sha256="caFingerprintSHA256",
    key_bits="keySize",
)
_TIMES = ("time", "not_before", "not_after")
_LISTS = ("groups", "bindings_removed", "fleet")
_INTEGERS = ("key_bits",)
_BOOLEANS = ("self_renew",)


def _typed(name, raw):
    if name in _TIMES:
        if not isinstance(raw, str):
            raise ValueError(f"{_KEYS[name]} is not a timestamp")
        try:
            return parse_iso(raw)
        except ValueError:
            raise ValueError(f"{_KEYS[name]} {raw[:40]!r} is not a timestamp") from None
    if name in _LISTS:
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise ValueError(f"{_KEYS[name]} is not a list of names")
        return tuple(_text(name, item) for item in raw)
    if name in _INTEGERS:
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise ValueError(f"{_KEYS[name]} is not a number")
        return raw
    if name in _BOOLEANS:
        if not isinstance(raw, bool):
            raise ValueError(f"{_KEYS[name]} is not true or false")
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"{_KEYS[name]} is not a string")
    return _text(name, raw)


def _text(name, raw):
    """A string that is text: JSON's \\ud800 escapes make a lone surrogate, which no output can encode."""
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{_KEYS[name]} holds a lone surrogate (not text)") from None
    return raw
