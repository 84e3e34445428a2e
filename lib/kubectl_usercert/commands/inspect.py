"""`inspect`: what a credential says, whether its key matches, whether it chains to the CA, and the
bindings this tool made for it (when the cluster can be asked)."""

import os
from dataclasses import dataclass, replace
from typing import Optional

from ..cluster import rbac
from ..cluster.kubectl import Kubectl
from ..store import inventory, ledger, located, ownership
from ..store.layout import UserFiles


@dataclass(frozen=True, eq=False, repr=False)
class InspectRequest:
    target: str  # a user in out_dir, a kubeconfig, or a PEM certificate
    out_dir: str = "clients"
    ca_cert: Optional[str] = None
    kubectl: Kubectl = Kubectl()


def inspect(request, progress=lambda _message: None):
    warnings = _trust_warnings(request)
    inspection = replace(
        located.read(located.find(request.target, request.out_dir), request.ca_cert),
        warnings=warnings,
        key_held_by=_key_holder(request),
    )
    progress("Looking up the bindings this tool made")
    bindings, note = rbac.bindings_if_reachable(request.kubectl)
    if bindings is None:
        return replace(inspection, notes=(note,) if note else ())
    return replace(
        inspection, bindings=tuple(rbac.bindings_of(bindings, inspection.user, inspection.groups))
    )


def _key_holder(request):
    """For a user of the out-dir, who holds the key as the ledger says ("owner": sign --csr)."""
    if os.path.isfile(request.target):
        return None
    entries = ledger.read(
        request.out_dir, keep=lambda entry: entry.user == request.target, trust_required=False
    ).entries  # (inspect only reports: a ledger that is not the runner's own is a warning)
    return inventory.key_holder(entries[-1]) if entries else None


def _trust_warnings(request):
    """Inspect only reports, so a user folder that is not the runner's own is a warning; but one that
    is a symbolic link is refused, never followed out of the out-dir."""
    if os.path.isfile(request.target):  # a file named on the command line (located.find's rule)
        return ()
    found = ownership.out_dir_problems(request.out_dir) + ownership.user_folder_problems(
        UserFiles.for_user(request.out_dir, request.target).directory
    )
    ownership.require(ownership.links(found))
    return tuple(ownership.warning(*problem) for problem in found)
