"""`list` and `whois`: what was issued, from the user folders and the ledger together.

The folders say what exists now; the ledger remembers what was issued even when the files have
gone (handed over and deleted, say), which is exactly what an admin needs to know: a certificate
stays valid until its notAfter wherever its files are.
"""

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import List, Optional, Tuple

from . import kubeconfig, ledger, openssl, rbac
from .errors import InvalidInput, UsercertError
from .inspection import certificate_status
from .layout import user_folders
from .times import days_left, iso, parse_iso


@dataclass
class InventoryRow:
    user: str
    groups: Tuple[str, ...]
    serial: str
    fingerprint_sha256: str
    not_after: datetime
    status: str  # valid, expiring, expired, not yet valid, files missing, revoked
    server: Optional[str]
    path: Optional[str]
    bindings: Optional[List[str]] = None  # None: the cluster was not asked

    @property
    def days_left(self):
        return days_left(self.not_after)

    def as_record(self):
        return {"user": self.user, "groups": list(self.groups), "serial": self.serial,
                "fingerprintSHA256": self.fingerprint_sha256, "notAfter": iso(self.not_after),
                "daysLeft": self.days_left, "status": self.status, "server": self.server, "path": self.path,
                "bindings": self.bindings}


@dataclass
class Inventory:
    rows: List[InventoryRow]
    problems: List[str] = field(default_factory=list)  # damaged ledger lines, unreadable folders


def take_inventory(out_dir):
    contents = ledger.read(out_dir)
    rows, problems = _rows_from_folders(out_dir)
    problems = contents.damaged + problems
    on_disk = {row.user for row in rows}
    for user, entry in _latest_per_user(contents.entries).items():
        if user in on_disk:
            if entry.get("event") == "revoked":
                for row in rows:
                    row.status = "revoked" if row.user == user else row.status
            continue
        try:
            rows.append(_row_from_entry(entry))
        except (KeyError, ValueError):
            problems.append(f"ledger entry for {user!r} lacks fields")
    rows.sort(key=lambda row: (row.not_after, row.user))
    return Inventory(rows, problems)


def _rows_from_folders(out_dir):
    rows, problems = [], []
    for files in user_folders(out_dir):
        if not os.path.isfile(files.cert):
            continue
        try:
            info = openssl.certificate_info(files.cert)
        except UsercertError as exc:
            problems.append(f"{files.cert}: {exc.message}")
            continue
        rows.append(InventoryRow(
            user=info.common_name or files.user, groups=info.organizations, serial=info.serial,
            fingerprint_sha256=info.fingerprint_sha256, not_after=info.not_after,
            status=certificate_status(info.not_before, info.not_after),
            server=_server_of(files.kubeconfig), path=files.directory))
    return rows, problems


def _server_of(path):
    try:
        return kubeconfig.current_user_credentials(path).server
    except (UsercertError, OSError, ValueError):
        return None


def _latest_per_user(entries):
    latest = {}
    for entry in entries:
        latest[entry["user"]] = entry
    return latest


def _row_from_entry(entry):
    status = "revoked" if entry.get("event") == "revoked" else "files missing"
    return InventoryRow(
        user=entry["user"], groups=tuple(entry.get("groups") or ()), serial=entry["serial"],
        fingerprint_sha256=entry["fingerprintSHA256"], not_after=parse_iso(entry["notAfter"]),
        status=status, server=entry.get("server"), path=entry.get("path"))


def attach_bindings(inventory, bindings, note):
    """Give each row the names of the tool's bindings for its user and groups; without a cluster, say why."""
    if bindings is None:
        if note and inventory.rows:
            inventory.problems.append(note)
        return
    for row in inventory.rows:
        row.bindings = [binding.name for binding in rbac.bindings_of(bindings, row.user, row.groups)]


def expiring_within(inventory, window):
    """Rows that expire within `window` (a timedelta), expired ones included."""
    limit = datetime.now(timezone.utc) + window
    return Inventory([row for row in inventory.rows if row.not_after <= limit], inventory.problems)


# --- whois ----------------------------------------------------------------------------------


@dataclass
class WhoisMatch:
    user: str
    groups: Tuple[str, ...]
    serial: str
    fingerprint_sha256: str
    not_after: str
    event: str
    time: Optional[str]
    path: Optional[str]

    def as_record(self):
        return {"user": self.user, "groups": list(self.groups), "serial": self.serial,
                "fingerprintSHA256": self.fingerprint_sha256, "notAfter": self.not_after,
                "event": self.event, "time": self.time, "path": self.path}


def normalize_query(text):
    """('fingerprint'|'serial', normalized hex) for an audit-log credential id, fingerprint or serial."""
    value = re.sub(r"^x509sha256=", "", text.strip(), flags=re.IGNORECASE)
    value = re.sub(r"^0x", "", value, flags=re.IGNORECASE).replace(":", "").replace(" ", "").lower()
    if not value or not re.fullmatch(r"[0-9a-f]+", value):
        raise InvalidInput(f"{text!r} is neither a fingerprint nor a serial",
                           hint="give X509SHA256=<hex> from an audit log, a SHA-256 fingerprint, or a hex serial")
    return ("fingerprint", value) if len(value) == 64 else ("serial", value.lstrip("0") or "0")


def _normalize_serial(serial):
    return serial.replace(":", "").lower().lstrip("0") or "0"


def whois(query, out_dir):
    kind, value = normalize_query(query)
    contents = ledger.read(out_dir)
    matches = []
    for entry in contents.entries:
        fingerprint = str(entry.get("fingerprintSHA256", "")).replace(":", "").lower()
        if (kind == "fingerprint" and fingerprint == value) or \
                (kind == "serial" and _normalize_serial(str(entry.get("serial", ""))) == value):
            matches.append(WhoisMatch(entry["user"], tuple(entry.get("groups") or ()), entry.get("serial", ""),
                                      entry.get("fingerprintSHA256", ""), entry.get("notAfter", ""),
                                      entry.get("event", ""), entry.get("time"), entry.get("path")))
    if not matches:
        raise UsercertError(f"no certificate with that {kind} in the ledger of {out_dir}",
                            hint="check --out-dir; the ledger only knows what this tool issued there")
    return matches, contents.damaged
