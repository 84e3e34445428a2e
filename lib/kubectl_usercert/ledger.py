"""The ledger: one JSON line per issuance, renewal or revocation, in OUT_DIR/.usercert/ledger.jsonl.

Kubernetes keeps no record of the client certificates it trusts; this file is that record. Each
entry is appended as one whole line under an exclusive lock and flushed to disk, so concurrent
runs never interleave. A damaged line is reported by readers, never fatal.
"""

import fcntl
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import List

from .errors import UsercertError
from .layout import records_dir
from .staging import ensure_private_dir
from .times import iso

LEDGER_NAME = "ledger.jsonl"


def ledger_path(out_dir):
    return os.path.join(records_dir(out_dir), LEDGER_NAME)


def append(out_dir, event, record):
    """Append {event, time, **record} as one line; return the entry written."""
    entry = {"event": event, "time": iso(datetime.now(timezone.utc)), **record}
    line = (json.dumps(entry, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")
    path = ledger_path(out_dir)
    try:
        ensure_private_dir(records_dir(out_dir))
        # O_NOFOLLOW: a link planted in a shared out-dir cannot redirect the ledger into another file.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _write_all(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
    except OSError as exc:
        raise UsercertError(f"cannot write the ledger {path}: {exc.strerror}",
                            hint="the credential was written; check the folder's permissions") from None
    return entry


def _write_all(fd, data):
    while data:
        written = os.write(fd, data)
        data = data[written:]


@dataclass
class LedgerContents:
    entries: List[dict]
    damaged: List[str]  # "ledger.jsonl line N: why"


def read(out_dir):
    path = ledger_path(out_dir)
    contents = LedgerContents([], [])
    if not os.path.exists(path):
        return contents
    with open(path, "rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        lines = handle.read().split(b"\n")
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw.decode("utf-8"))
            if not isinstance(entry, dict) or "user" not in entry:
                raise ValueError("not a ledger entry")
        except ValueError as exc:
            contents.damaged.append(f"{path} line {number}: {str(exc).splitlines()[0][:80]}")
            continue
        contents.entries.append(entry)
    return contents
