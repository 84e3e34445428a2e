"""`revoke USER`: delete the bindings this tool made for USER, archive their files, record it (the
certificate itself stays valid until it expires). See operations/revoke.py."""

from dataclasses import dataclass
from typing import Tuple

from ..cluster.kubectl import Kubectl
from ..errors import InvalidInput
from ..operations.fleet_revoke import revoke_person
from ..operations.revoke import revoke_user
from ..output.fleet_results import PerCluster
from ..store import clusters, ledger


@dataclass(frozen=True, eq=False, repr=False)
class RevokeRequest:
    user: str
    out_dir: str = "clients"
    kubectl: Kubectl = Kubectl()
    dry_run: str = (
        "none"  # client: say what would go; server: and ask the cluster to delete with dryRun=All
    )
    contexts: Tuple[str, ...] = ()  # a fleet person: the clusters to revoke on (default: all)


def revoke(request, progress=lambda _message: None):
    """Revoke a user; a fleet person on each of their clusters (or those of --context)."""
    state = clusters.current(ledger.history(request.out_dir, request.user))
    if clusters.is_fleet(state):
        done = revoke_person(
            user=request.user,
            out_dir=request.out_dir,
            kubectl=request.kubectl,
            contexts=request.contexts,
            dry_run=request.dry_run,
            progress=progress,
        )
        return PerCluster(request.user, tuple(done))
    if len(request.contexts) > 1:
        raise InvalidInput(
            f"{request.user} was issued for one cluster: one --context at most",
            hint="--context names the cluster whose bindings are deleted",
        )
    return revoke_user(
        user=request.user,
        out_dir=request.out_dir,
        kubectl=request.kubectl,
        dry_run=request.dry_run,
        progress=progress,
    )
