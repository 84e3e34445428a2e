"""`inspect`: what a credential says, whether its key matches, whether it chains to the CA, and the
bindings this tool made for it (when the cluster can be asked)."""

from dataclasses import dataclass, replace
from typing import Optional

from .. import credentials, rbac
from ..kubectl import Kubectl


@dataclass(frozen=True, eq=False, repr=False)
class InspectRequest:
    target: str  # a user in out_dir, a kubeconfig, or a PEM certificate
    out_dir: str = "clients"
    ca_cert: Optional[str] = None
    kubectl: Kubectl = Kubectl()


def inspect(request, progress=lambda _message: None):
    inspection = credentials.read(credentials.locate(request.target, request.out_dir), request.ca_cert)
    progress("Looking up the bindings this tool made")
    bindings, note = rbac.bindings_if_reachable(request.kubectl)
    if bindings is None:
        return replace(inspection, notes=(note,) if note else ())
    return replace(inspection, bindings=tuple(rbac.bindings_of(bindings, inspection.user, inspection.groups)))
