"""`inspect`: what a credential says, whether its key matches, whether it chains to the CA, and the
bindings this tool made for it (when the cluster can be asked)."""

import os
from dataclasses import dataclass, replace
from typing import Optional, Tuple

from ..cluster import fleet, rbac
from ..cluster.kubectl import Kubectl
from ..errors import InvalidInput, UsercertError
from ..output.fleet_results import PerCluster
from ..store import clusters, inventory, ledger, located, ownership
from ..store.layout import UserFiles


@dataclass(frozen=True, eq=False, repr=False)
class InspectRequest:
    target: str  # a user in out_dir, a kubeconfig, or a PEM certificate
    out_dir: str = "clients"
    ca_cert: Optional[str] = None
    kubectl: Kubectl = Kubectl()
    contexts: Tuple[str, ...] = ()  # a fleet person: the clusters to inspect (default: all)


def inspect(request, progress=lambda _message: None):
    warnings = _trust_warnings(request)
    state = {} if os.path.isfile(request.target) else _state(request)
    if clusters.is_fleet(state):
        return _inspect_fleet(request, state, warnings, progress)
    if len(request.contexts) > 1:
        raise InvalidInput(
            f"{request.target} is a credential for one cluster: one --context at most",
            hint="--context names the cluster whose bindings are looked up",
        )
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


def _state(request):
    """The user's current record per cluster (inspect only reports: a ledger not the runner's own is
    read, with the warning _trust_warnings gave)."""
    entries = ledger.read(
        request.out_dir, keep=lambda entry: entry.user == request.target, trust_required=False
    ).entries
    return clusters.current(entries)


def _inspect_fleet(request, state, warnings, progress):
    """A fleet person: each cluster's certificate (or those of --context) checked against the CA
    recorded for it (or --ca-cert, when one cluster is inspected), and its bindings on its cluster."""
    user_files = UserFiles.for_user(request.out_dir, request.target)
    chosen = clusters.select(state, request.target, request.contexts)
    items = []
    for cluster, entry in chosen:
        place = clusters.cluster_files(user_files, cluster)
        source = located.CredentialSource(
            place.cert,
            cert_path=place.cert,
            key_path=place.key if os.path.isfile(place.key) else None,
            kubeconfig=user_files.kubeconfig,
            server=entry.server,
        )
        recorded = entry.ca_cert if entry.ca_cert and os.path.isfile(entry.ca_cert) else None
        ca_cert = request.ca_cert if len(chosen) == 1 and request.ca_cert else recorded
        inspection = replace(
            located.read(source, ca_cert, look_for_ca=False),
            warnings=warnings if not items else (),
            key_held_by=inventory.key_holder(entry),
        )
        progress(f"{cluster}: looking up the bindings this tool made")
        try:
            bindings, note = rbac.bindings_if_reachable(
                fleet.kubectl_for(request.kubectl, entry.context)
            )
        except UsercertError as exc:
            bindings, note = None, f"bindings not shown: {exc.message}"
        if bindings is None:
            inspection = replace(inspection, notes=(note,) if note else ())
        else:
            found = rbac.bindings_of(bindings, inspection.user, inspection.groups)
            inspection = replace(inspection, bindings=tuple(found))
        items.append((cluster, entry.context, inspection))
    return PerCluster(request.target, tuple(items))
