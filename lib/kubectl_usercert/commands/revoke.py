"""`revoke USER`: delete the bindings this tool made for USER, archive their files, record it (the
certificate itself stays valid until it expires). See operations/revoke.py."""

from dataclasses import dataclass

from ..cluster.kubectl import Kubectl
from ..operations.revoke import revoke_user


@dataclass(frozen=True, eq=False, repr=False)
class RevokeRequest:
    user: str
    out_dir: str = "clients"
    kubectl: Kubectl = Kubectl()
    dry_run: str = (
        "none"  # client: say what would go; server: and ask the cluster to delete with dryRun=All
    )


def revoke(request, progress=lambda _message: None):
    return revoke_user(
        user=request.user,
        out_dir=request.out_dir,
        kubectl=request.kubectl,
        dry_run=request.dry_run,
        progress=progress,
    )
