"""What was issued into an out-dir: the ledger, checked against the user folders.

The ledger already holds what a listing shows (serial, fingerprint, validity, groups, key,
server), so it is read once and no openssl runs for it; a certificate file is read only when it
is newer than its ledger record (changed by hand, or left by a run killed before recording),
or has none. The folders say what exists now; the ledger remembers what was issued even when
the files have gone (handed over and deleted, say), which is exactly what an admin needs: a
certificate stays valid until its notAfter wherever its files are.
"""

import os
from datetime import timedelta

from . import ledger, openssl, userconfig
from .errors import UsercertError
from .layout import file_safe, user_folders
from .results import InventoryRow, certificate_state

# A certificate file this much newer than its ledger line was changed after it was recorded.
_SLACK = timedelta(seconds=2)


def take(out_dir, at):
    """(rows, problems) for every user of out_dir, soonest expiry first; states as of `at`."""
    contents = ledger.read(out_dir)
    problems = list(contents.damaged)
    latest = ledger.latest_per_user(contents.entries)
    by_stem = {file_safe(user): entry for user, entry in latest.items()}
    rows, seen = [], set()
    for user_files in user_folders(out_dir):
        entry = by_stem.get(user_files.stem)
        seen.add(entry.user if entry else None)
        row = _row_from_folder(user_files, entry, at, problems)
        if row is not None:
            rows.append(row)
    for user, entry in latest.items():
        if user not in seen and entry.not_after is not None:
            state = "revoked" if entry.event == "revoked" else "files missing"
            rows.append(_row_from_entry(entry, state))
    rows.sort(key=lambda row: (row.not_after, row.user))
    return rows, problems


def _row_from_folder(user_files, entry, at, problems):
    if not os.path.isfile(user_files.cert):
        if entry is not None and entry.not_after is not None and entry.event != "revoked":
            return _row_from_entry(entry, "files missing")
        return None
    if entry is not None and entry.event != "revoked" and entry.not_after is not None and \
            not _changed_since(user_files.cert, entry):
        return _row_from_entry(entry, certificate_state(entry.not_before, entry.not_after, at))
    try:
        info = openssl.certificate_info(user_files.cert)
    except UsercertError as exc:
        problems.append(f"{user_files.cert}: {exc.message}")
        return None
    if entry is None:
        problems.append(f"{user_files.directory} is not in the ledger (a run was killed before recording it?)")
    return InventoryRow(
        user=info.common_name or user_files.user, groups=info.organizations, serial=info.serial,
        fingerprint_sha256=info.fingerprint_sha256, not_before=info.not_before, not_after=info.not_after,
        key_type=info.key_type, key_bits=info.key_bits, state=certificate_state(info.not_before, info.not_after, at),
        server=_server_of(user_files.kubeconfig), directory=user_files.directory)


def _changed_since(path, entry):
    try:
        modified = os.stat(path).st_mtime
    except OSError:
        return True
    return entry.time is None or modified > (entry.time + _SLACK).timestamp()


def _row_from_entry(entry, state):
    return InventoryRow(
        user=entry.user, groups=entry.groups, serial=entry.serial, fingerprint_sha256=entry.fingerprint_sha256,
        not_before=entry.not_before, not_after=entry.not_after, key_type=entry.key_type, key_bits=entry.key_bits,
        state=state, server=entry.server, directory=entry.path if state != "revoked" else entry.archived_to)


def _server_of(path):
    try:
        return userconfig.current_user_credentials(path).server
    except (UsercertError, OSError):
        return None
