"""The ledger: one JSON line per issuance, renewal, adoption or revocation, in OUT_DIR/.usercert/ledger.jsonl.

Kubernetes keeps no record of the client certificates it trusts; this file is that record, so it
never loses or merges one. An entry is appended under an exclusive lock, always starting on a
line of its own (a line a crash left unfinished stays alone), and is written whole and flushed,
or rolled back. A reader reports a damaged line (not JSON, or fields of the wrong type) and
skips it; it never stops reading, and never lets a line swallow its neighbour.

`LedgerEntry` is the one schema: written by `append`, read by `read`, nowhere else by key strings.
"""

import fcntl
import json
import os
import stat
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from typing import List, Optional, Tuple

from .errors import InvalidInput, UsercertError
from .files import PRIVATE_DIR_MODE, write_all, write_error
from .layout import ledger_path, records_dir
from .times import iso, parse_duration, parse_iso

EVENTS = ("issued", "renewed", "adopted", "revoked")
MAX_LEDGER_BYTES = 256 << 20
BACKDATE = timedelta(minutes=5)  # what kube's signer (and this tool's, since) take off notBefore


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
    bindings_removed: Tuple[str, ...] = ()  # revoked
    archived_to: Optional[str] = None  # revoked

    @property
    def fingerprint_hex(self):
        return (self.fingerprint_sha256 or "").replace(":", "").lower()

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
            record[_KEYS[spec.name]] = iso(value) if isinstance(value, datetime) else \
                list(value) if isinstance(value, tuple) else value
        return record

    @classmethod
    def from_json(cls, record):
        """The entry a parsed line holds; ValueError saying what is wrong with it."""
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        values = {}
        for spec in fields(cls):
            raw = record.get(_KEYS[spec.name])
            if raw is not None:
                values[spec.name] = _typed(spec.name, raw)
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
_KEYS = {spec.name: spec.name.split("_")[0] + "".join(part.title() for part in spec.name.split("_")[1:])
         for spec in fields(LedgerEntry)}
_KEYS.update(fingerprint_sha256="fingerprintSHA256", ca_fingerprint_sha256="caFingerprintSHA256", key_bits="keySize")
_TIMES = ("time", "not_before", "not_after")
_LISTS = ("groups", "bindings_removed")
_INTEGERS = ("key_bits",)


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
        return tuple(raw)
    if name in _INTEGERS:
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise ValueError(f"{_KEYS[name]} is not a number")
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"{_KEYS[name]} is not a string")
    return raw


def append(out_dir, entry):
    """Append `entry` (stamped with the time) as one line of its own; return the entry written."""
    entry = replace(entry, time=entry.time or datetime.now(timezone.utc).replace(microsecond=0))
    line = (json.dumps(entry.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
    path = ledger_path(out_dir)
    try:
        if not os.path.isdir(records_dir(out_dir)):
            try:
                os.mkdir(records_dir(out_dir), PRIVATE_DIR_MODE)
            except FileExistsError:  # another worker made it meanwhile
                pass
        # O_NOFOLLOW: a link planted in a shared out-dir cannot redirect the ledger into another file.
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except IsADirectoryError:
        raise _not_a_file(path, UsercertError) from None
    except OSError as exc:
        raise _ledger_error(path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _append_line(fd, line, path)
    finally:
        os.close(fd)  # closing releases the lock
    return entry


def _append_line(fd, line, path):
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _not_a_file(path, UsercertError)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a line left unfinished by a crash stays a (damaged) line of its own
        try:
            write_all(fd, line)
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, size)  # all or nothing
            raise
    except OSError as exc:
        raise _ledger_error(path, exc) from None


def _not_a_file(path, error_type):
    return error_type(f"the ledger {path} is not a file", hint="move it away; the tool keeps its record there")


def _ledger_error(path, exc):
    error = write_error(path, exc)
    error.message = f"cannot write the ledger: {error.message}"
    return error


@dataclass
class LedgerContents:
    entries: List[LedgerEntry] = field(default_factory=list)
    damaged: List[str] = field(default_factory=list)  # "PATH line N: why"


def read(out_dir):
    path = ledger_path(out_dir)
    contents = LedgerContents()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return contents
    except OSError as exc:
        raise InvalidInput(f"cannot read the ledger {path}: {exc.strerror}", hint="check --out-dir") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_a_file(path, InvalidInput)
    with os.fdopen(fd, "rb") as handle:
        fcntl.flock(fd, fcntl.LOCK_SH)
        data = handle.read(MAX_LEDGER_BYTES)
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            contents.entries.append(LedgerEntry.from_json(json.loads(raw.decode("utf-8"))))
        except (ValueError, TypeError, RecursionError) as exc:
            contents.damaged.append(f"{path} line {number}: {str(exc).splitlines()[0][:80]}")
    return contents


def latest_per_user(entries):
    """The last entry of each user, in the order users first appear."""
    latest = {}
    for entry in entries:
        latest[entry.user] = entry
    return latest
