"""`approve`: approve the pending self-renewals of credentials this tool issued, deny those that
claim to renew an identity and fail a check, leave every other request alone (see
operations/approve.py and operations/self_renewal_policy.py)."""

from dataclasses import dataclass

from ..cluster.kubectl import Kubectl
from ..operations.approve import approve_pending
from ..operations.approve_watch import watch_approvals


@dataclass(frozen=True, eq=False, repr=False)
class ApproveRequest:
    out_dir: str = "clients"
    kubectl: Kubectl = Kubectl()
    dry_run: str = "none"  # client: decide only; server: the cluster checks the decisions too


def approve(request, progress=lambda _message: None):
    return approve_pending(
        kubectl=request.kubectl,
        out_dir=request.out_dir,
        dry_run=request.dry_run,
        progress=progress,
    )


def watch(request, progress=lambda _message: None):
    """--watch: an Approvals per batch as requests arrive, until the generator is closed."""
    return watch_approvals(
        kubectl=request.kubectl,
        out_dir=request.out_dir,
        dry_run=request.dry_run,
        progress=progress,
    )
