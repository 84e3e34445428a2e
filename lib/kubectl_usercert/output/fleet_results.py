"""What a command returns for a fleet person (one person on several clusters): `create`'s
FleetIssued, and PerCluster, the result of renew, revoke, verify or inspect on each cluster.
Drawn by output/fleet_ui.py, printed by output/fleet_contract.py."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional, Tuple

from .results import Credential, Outcome, Verification, now


@dataclass(frozen=True, eq=False, repr=False)
class FleetIssued(Outcome):
    """create (or sign --csr) on several clusters: a credential per cluster (one kubeconfig), the
    bindings made on each, and what each cluster said of its credential (--verify)."""

    credentials: Tuple[Credential, ...]
    bindings: Tuple = ()  # rbac.Binding: made (or printed) on every cluster
    manifests: Tuple[dict, ...] = ()
    printed_rbac: bool = False
    verifications: Tuple[Verification, ...] = ()  # one per credential, in order, with --verify
    warnings: Tuple[str, ...] = ()  # about the person (a system: group, say)
    owner_instructions: Tuple[str, ...] = ()  # sign: what the key's owner runs with the bundle

    @property
    def failed(self):
        return any(not verification.ok for verification in self.verifications)


@dataclass(frozen=True, eq=False, repr=False)
class PerCluster(Outcome):
    """A command's result on each of a fleet person's clusters (inspect, verify, renew, revoke)."""

    user: str
    items: Tuple[Tuple[str, Optional[str], object], ...]  # (cluster, admin context, its result)
    observed_at: datetime = field(default_factory=now)

    @property
    def failed(self):
        return any(getattr(result, "failed", False) for _, _, result in self.items)
