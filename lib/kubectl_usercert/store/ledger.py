"""The ledger: one JSON line per issuance, renewal, adoption or revocation, in OUT_DIR/.usercert/ledger.jsonl.

Kubernetes keeps no record of the client certificates it trusts; this file is that record, so it
never loses or merges one. An entry is appended under an exclusive lock, always starting on a
line of its own (a line a crash left unfinished stays alone), and is written whole and flushed,
or rolled back. A reader reports a damaged line (not JSON, or fields of the wrong type) and
skips it; it never stops reading, and never lets a line swallow its neighbour.

`LedgerEntry` is the one schema: written by `append`, read by `read`, nowhere else by key strings.
"""

import errno
import fcntl
import json
import os
import shlex
import stat
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import List

from ..errors import InvalidInput, UsercertError
from ..pki.certificate import plain_hex
from . import clusters, ownership
from .files import PRIVATE_DIR_MODE, write_all, write_error
from .layout import ledger_path, records_dir
from .ledger_entry import EVENTS, LedgerEntry, lifetime_of_window  # noqa: F401 (the ledger's schema)

MAX_LINE_BYTES = 1 << 20  # no record is near this; a longer line is damaged, and never held whole
MAX_REPORTED = 20  # damaged lines named one by one; beyond, only counted


def append(out_dir, entry):
    """Append `entry` (stamped with the time) as one line of its own; return the entry written."""
    return append_all(out_dir, [entry])[0]


def append_all(out_dir, entries):
    """Append `entries` (a fleet's: one per cluster), stamped with one time, in one write: all of
    them or none; return the entries written."""
    stamp = datetime.now(timezone.utc).replace(microsecond=0)
    entries = [replace(entry, time=entry.time or stamp) for entry in entries]
    lines = b"".join(
        (json.dumps(entry.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        for entry in entries
    )
    path = ledger_path(out_dir)
    try:
        if not os.path.isdir(records_dir(out_dir)):
            try:
                os.mkdir(records_dir(out_dir), PRIVATE_DIR_MODE)
            except FileExistsError:  # another worker made it meanwhile
                pass
        # O_NOFOLLOW: a link planted in a shared out-dir cannot redirect the ledger into another file.
        fd = os.open(
            path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600
        )
    except IsADirectoryError:
        raise _not_a_file(path, UsercertError) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _a_link(path, InvalidInput) from None
        raise _ledger_error(path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _append_line(fd, lines, path)
    finally:
        os.close(fd)  # closing releases the lock
    return entries


def _append_line(fd, line, path):
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _not_a_file(path, UsercertError)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = (
                b"\n" + line
            )  # a line left unfinished by a crash stays a (damaged) line of its own
        try:
            write_all(fd, line)
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, size)  # all or nothing
            raise
    except OSError as exc:
        raise _ledger_error(path, exc) from None


def _not_a_file(path, error_type):
    return error_type(
        f"the ledger {path} is not a file", hint="move it away; the tool keeps its record there"
    )


def _a_link(path, error_type):
    return error_type(
        f"the ledger {path} is a symbolic link: the tool never follows a link out of its out-dir",
        hint=f"remove the link (rm {shlex.quote(path)}); the tool keeps its record there as a file",
    )


def _ledger_error(path, exc):
    error = write_error(path, exc)
    error.message = f"cannot write the ledger: {error.message}"
    return error


@dataclass
class LedgerContents:
    entries: List[LedgerEntry] = field(default_factory=list)  # those the reader kept
    damaged: List[str] = field(default_factory=list)  # "PATH line N: why"
    warnings: List[str] = field(
        default_factory=list
    )  # a ledger or out-dir not the runner's own (when allowed)


def read(out_dir, keep=None, trust_required=True):
    """The ledger in one streaming pass, whatever its size: the entries `keep(entry)` is true for
    (all when keep is None), and its damaged lines. Memory stays flat: a line longer than
    MAX_LINE_BYTES is reported, not held, and only the kept entries stay.

    A ledger (or out-dir, or .usercert) that is not the runner's own is refused when
    `trust_required` (every command that decides from it), else read with a warning (list, whois)."""
    path = ledger_path(out_dir)
    contents = LedgerContents()
    _check_trust(out_dir, contents, trust_required)
    fd = _open_for_reading(path)
    if fd is None:
        return contents
    damaged = 0
    with os.fdopen(fd, "rb") as handle:
        fcntl.flock(fd, fcntl.LOCK_SH)
        for number, raw in _lines(handle):
            try:
                if raw is None:
                    raise ValueError(f"longer than {MAX_LINE_BYTES >> 20} MiB")
                entry = LedgerEntry.from_json(json.loads(raw.decode("utf-8")))
            except (ValueError, TypeError, RecursionError) as exc:
                damaged += 1
                if damaged <= MAX_REPORTED:
                    contents.damaged.append(
                        f"{path} line {number}: {str(exc).splitlines()[0][:80]}"
                    )
                continue
            if keep is None or keep(entry):
                contents.entries.append(entry)
    if damaged > MAX_REPORTED:
        contents.damaged.append(f"{path}: {damaged - MAX_REPORTED} more damaged lines")
    return contents


def history(out_dir, user):
    """The entries of one user, oldest first (for a decision: the ledger must be the runner's own)."""
    return read(out_dir, keep=lambda entry: entry.user == user).entries


def knows(out_dir, fingerprint):
    """Whether any entry records the certificate with this SHA-256 fingerprint (any spelling)."""
    wanted = plain_hex(fingerprint)
    return bool(read(out_dir, keep=lambda entry: entry.fingerprint_hex == wanted).entries)


def latest(out_dir, trust_required=True, states=None):
    """({user: their last entry}, in the order users first appear; the LedgerContents with the
    damaged lines and warnings), in one pass that keeps only the last entry of each user. With
    `states` (a dict), also each user's current record per cluster (clusters.fold) into it."""
    found = {}

    def note(entry):
        found[entry.user] = entry
        if states is not None:
            states[entry.user] = clusters.fold(states.get(entry.user), entry)
        return False

    return found, read(out_dir, note, trust_required)


def _check_trust(out_dir, contents, trust_required):
    for what, path, said in ownership.out_dir_problems(out_dir):
        if trust_required or ownership.links(
            [(what, path, said)]
        ):  # a link is never followed, not even to read
            raise ownership.untrusted(what, path, said)
        contents.warnings.append(ownership.warning(what, path, said))


def _open_for_reading(path):
    """A descriptor of the ledger, or None when there is none. O_NONBLOCK: a FIFO in its place must
    not hang the open; O_NOFOLLOW: a link in its place is refused, never followed."""
    try:
        fd = os.open(
            path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
        )
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _a_link(path, InvalidInput) from None
        raise InvalidInput(
            f"cannot read the ledger {path}: {exc.strerror}", hint="check --out-dir"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_a_file(path, InvalidInput)
    os.set_blocking(fd, True)
    return fd


def _lines(handle):
    """(line number, bytes) of every non-blank line; bytes None for a line too long to hold."""
    number = 0
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of it, a piece at a time
                raw = handle.readline(1 << 16)
            yield number, None
        elif raw.strip():
            yield number, raw
