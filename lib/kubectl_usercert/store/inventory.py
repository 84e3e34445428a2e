"""What an out-dir holds: the ledger, checked against the user folders (for list, and for apply's plan).

The ledger already holds what a listing or a plan needs (serial, fingerprint, validity, groups,
key, server, how it was signed), so it is read once and no openssl runs for it; a certificate file
is read only when it is newer than its ledger record (changed by hand, or left by a run killed
before recording), or has none. The folders say what exists now; the ledger remembers what was
issued even when the files have gone (handed over and deleted, say), which is exactly what an
admin needs: a certificate stays valid until its notAfter wherever its files are.
"""

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Dict, Optional

from ..cluster import user_kubeconfig
from ..errors import UsercertError
from ..output.results import InventoryRow, certificate_state
from ..pki import openssl
from ..pki.certificate import CertificateInfo
from . import clusters, ledger, ownership
from .layout import UserFiles, file_safe, user_folders
from .ledger import LedgerEntry

# A certificate file this much newer than its ledger line was changed after it was recorded.
_SLACK = timedelta(seconds=2)


@dataclass(frozen=True, eq=False, repr=False)
class Holding:
    """One user of an out-dir: the last ledger entry, the folder if there is one, and the certificate
    as its file says when that was read (changed since its record, or never recorded)."""

    user: str
    entry: Optional[LedgerEntry]
    files: Optional[UserFiles]
    info: Optional[CertificateInfo] = None
    clusters: Optional[Dict[str, LedgerEntry]] = None  # a fleet person: the record of each cluster

    @property
    def present(self):
        """A credential is in its folder (not revoked, not handed over)."""
        return self.files is not None and (
            self.info is not None or (self.entry is not None and self.entry.event != "revoked")
        )

    @property
    def revoked(self):
        return self.entry is not None and self.entry.event == "revoked" and self.files is None

    def fact(self, name):
        """groups, not_after, not_before, serial, fingerprint_sha256, key_type, key_bits: from the file
        when it was read, else from the ledger."""
        if self.info is not None:
            return self.info.organizations if name == "groups" else getattr(self.info, name)
        return getattr(self.entry, name) if self.entry is not None else None


def holdings(out_dir, trust_required=True):
    """({user: Holding}, problems) for every user of out_dir. A folder is this tool's for a user only
    under that user's file-safe name: a certificate in another user's folder is a problem reported,
    never that user's holding (so a stray copy cannot hide a user from --prune). State that is not
    the runner's own is refused when `trust_required` (apply), else a warning (list); a folder that
    is a symbolic link is never followed."""
    states = {}
    latest, contents = ledger.latest(out_dir, trust_required, states)
    fleets = {user: state for user, state in states.items() if clusters.is_fleet(state)}
    problems = contents.warnings + contents.damaged
    by_stem = {file_safe(user): entry for user, entry in latest.items()}
    held = {}
    for user_files in user_folders(out_dir):
        if not _trusted(user_files, trust_required, problems):
            continue
        entry = by_stem.get(user_files.stem)
        if entry is not None and entry.user in fleets:
            held[entry.user] = Holding(entry.user, entry, user_files, clusters=fleets[entry.user])
            continue
        holding = _holding(user_files, entry, problems)
        if holding is not None:
            held[holding.user] = holding
    for user, entry in latest.items():
        held.setdefault(user, Holding(user, entry, None, clusters=fleets.get(user)))
    return held, problems


def _trusted(user_files, trust_required, problems):
    found = ownership.user_folder_problems(user_files.directory)
    if trust_required:
        ownership.require(found)
    problems.extend(ownership.warning(*problem) for problem in found)
    return not ownership.links(found)  # a folder that is a link, or holds one, is not followed


def _holding(user_files, entry, problems):
    if entry is None and os.path.isdir(user_files.clusters):
        problems.append(
            f"{user_files.directory} is not in the ledger (a run was killed before recording it?)"
        )
        return None
    if not os.path.isfile(user_files.cert):
        return Holding(entry.user, entry, None) if entry is not None else None
    if (
        entry is not None
        and entry.event != "revoked"
        and entry.not_after is not None
        and not _changed_since(user_files.cert, entry)
    ):
        return Holding(entry.user, entry, user_files)
    try:
        info = openssl.certificate_info(user_files.cert)
    except UsercertError as exc:
        problems.append(f"{user_files.cert}: {exc.message}")
        return None
    if file_safe(info.common_name or "") != user_files.stem:
        problems.append(
            f"{user_files.cert} is a certificate for {info.common_name!r}, not for the user of its "
            f"folder: not taken as anyone's"
        )
        return Holding(entry.user, entry, user_files) if entry is not None else None
    if entry is None:
        problems.append(
            f"{user_files.directory} is not in the ledger (a run was killed before recording it?)"
        )
    return Holding(info.common_name, entry, user_files, info)


def _changed_since(path, entry):
    try:
        modified = os.stat(path).st_mtime
    except OSError:
        return True
    return entry.time is None or modified > (entry.time + _SLACK).timestamp()


def take(out_dir, at):
    """(rows, problems) for every user of out_dir, soonest expiry first; states as of `at`. It only
    reports: state that is not the runner's own is listed with a warning."""
    held, problems = holdings(out_dir, trust_required=False)
    rows = [row for holding in held.values() for row in _rows(holding, at, problems)]
    rows.sort(key=lambda row: (row.not_after, row.user, row.cluster or ""))
    return rows, problems


def _rows(holding, at, problems):
    """A row per certificate: one for a single-cluster user, one per cluster for a fleet person."""
    if holding.clusters is None:
        row = _row(holding, at)
        return [row] if row is not None else []
    rows = [
        _cluster_row(holding, name, entry, at, problems) for name, entry in holding.clusters.items()
    ]
    return [row for row in rows if row is not None]


def _cluster_row(holding, cluster, entry, at, problems):
    """One cluster's certificate of a fleet person, from its record (and its file, when that changed
    since it was recorded)."""
    cert = holding.files.for_cluster(cluster).cert if holding.files is not None else None
    info, directory = None, entry.path
    if entry.event == "revoked":
        state, directory = "revoked", entry.archived_to
    elif cert is None or not os.path.isfile(cert):
        state = "files missing"
    else:
        directory = holding.files.directory
        if _changed_since(cert, entry):
            try:
                info = openssl.certificate_info(cert)
            except UsercertError as exc:
                problems.append(f"{cert}: {exc.message}")
        state = None
    fact = (
        (lambda name: getattr(info, name))
        if info is not None
        else (lambda name: getattr(entry, name))
    )
    not_after = fact("not_after")
    if not_after is None:
        return None
    return InventoryRow(
        user=holding.user,
        groups=info.organizations if info is not None else entry.groups,
        serial=fact("serial"),
        fingerprint_sha256=fact("fingerprint_sha256"),
        not_before=fact("not_before"),
        not_after=not_after,
        key_type=fact("key_type"),
        key_bits=fact("key_bits"),
        state=state or certificate_state(fact("not_before"), not_after, at),
        server=entry.server,
        directory=directory,
        cluster=cluster,
        context=entry.context,
        key_held_by=key_holder(entry) if entry.event != "revoked" else None,
    )


def _row(holding, at):
    not_after = holding.fact("not_after")
    if not_after is None:
        return None
    entry = holding.entry
    if holding.files is None:
        state = "revoked" if holding.revoked else "files missing"
    elif entry is not None and entry.event == "revoked" and holding.info is None:
        state = "revoked"
    else:
        state = certificate_state(holding.fact("not_before"), not_after, at)
    server = _server_of(holding.files.kubeconfig) if holding.info is not None else entry.server
    if state == "revoked":
        directory = entry.archived_to
    else:  # the folder as found from here when it is there (the ledger's path is relative to where it ran)
        directory = holding.files.directory if holding.files is not None else entry.path
    return InventoryRow(
        user=holding.user,
        groups=holding.fact("groups"),
        serial=holding.fact("serial"),
        fingerprint_sha256=holding.fact("fingerprint_sha256"),
        not_before=holding.fact("not_before"),
        not_after=not_after,
        key_type=holding.fact("key_type"),
        key_bits=holding.fact("key_bits"),
        state=state,
        server=server,
        directory=directory,
        key_held_by=key_holder(entry) if state != "revoked" else None,
    )


def key_holder(entry):
    """Who holds a credential's key, as the ledger says: "owner" (signed from their own request,
    `sign --csr`), else "out-dir" (made here); None without a record."""
    if entry is None:
        return None
    return "owner" if entry.key_held_by == "owner" else "out-dir"


def _server_of(path):
    try:
        return user_kubeconfig.current_user(path).server
    except (UsercertError, OSError):
        return None
