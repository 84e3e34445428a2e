"""`list`: every certificate issued into an out-dir (user folders and the ledger), soonest expiry first."""

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Optional, Tuple

from ..cluster import fleet, rbac
from ..cluster.kubectl import Kubectl
from ..errors import UsercertError
from ..output.results import Inventory, now
from ..store import inventory


@dataclass(frozen=True, eq=False, repr=False)
class ListRequest:
    out_dir: str = "clients"
    expiring: Optional[timedelta] = (
        None  # only those expiring within this window (expired included, revoked not)
    )
    expiring_text: Optional[str] = None  # the window as given, for the output
    exit_code: bool = False  # exit 1 when any row is left (for cron and CI)
    kubectl: Kubectl = Kubectl()
    with_bindings: bool = True
    users: Tuple[str, ...] = ()  # only these (every user when empty), as `kubectl get pods a b`


def list_certificates(request, progress=lambda _message: None):
    at = now()
    rows, problems = inventory.take(request.out_dir, at)
    not_found = ()
    if request.users:  # a name nobody holds is an error, as kubectl's NotFound, after those found
        rows = [row for row in rows if row.user in request.users]
        not_found = tuple(
            dict.fromkeys(user for user in request.users if user not in {row.user for row in rows})
        )
    if request.expiring is not None:
        # revoked ones are out of use: a pruned user must not trip --exit-code for ever
        rows = [
            row for row in rows if row.not_after <= at + request.expiring and row.state != "revoked"
        ]
    notes = ()
    if request.with_bindings and rows:
        progress("Looking up the bindings this tool made")
        rows, notes = _with_bindings(rows, request.kubectl)
    return Inventory(
        tuple(rows), tuple(problems), notes, at, request.expiring_text, request.exit_code, not_found
    )


def _with_bindings(rows, kubectl):
    """Each row with the bindings this tool made for it, on its own cluster: a fleet person's rows
    through the context each was issued through, the others through --context (or the current one)."""
    found, notes = {}, []
    for context in dict.fromkeys(row.context if row.cluster else None for row in rows):
        if context is None:
            bindings, note = rbac.bindings_if_reachable(kubectl)
        else:
            try:
                bindings, note = rbac.bindings_if_reachable(fleet.kubectl_for(kubectl, context))
            except UsercertError as exc:
                bindings, note = None, f"bindings not shown: {exc.message}"
            note = note and f"context {context}: {note}"
        found[context] = bindings
        notes += [note] if note else []
    return [
        replace(row, bindings=tuple(rbac.bindings_of(bindings, row.user, row.groups)))
        if bindings is not None
        else row
        for row in rows
        for bindings in [found[row.context if row.cluster else None]]
    ], tuple(notes)
