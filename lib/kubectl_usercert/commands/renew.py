"""`renew USER`: a new certificate for an existing user, in place, as the ledger last recorded it
(groups, lifetime, how it was signed; the same key unless --rekey). See operations/renew.py."""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Optional, Tuple

from ..errors import InvalidInput
from ..operations.fleet_renew import renew_person
from ..operations.renew import renew_user
from ..output.fleet_results import PerCluster
from ..pki.signers import SignerOptions, per_cluster
from ..store import clusters, ledger


@dataclass(frozen=True, eq=False, repr=False)
class RenewRequest:
    user: str
    out_dir: str = "clients"
    groups: Optional[Tuple[str, ...]] = (
        None  # None: the groups of the ledger's latest record of the user
    )
    validity: Optional[timedelta] = (
        None  # None: the lifetime it was issued with, as the ledger recorded it
    )
    rekey: bool = False
    key_type: Optional[str] = None  # with --rekey; default: the current key's type
    key_size: Optional[int] = None
    allow_system_masters: bool = False
    signing: SignerOptions = field(default_factory=SignerOptions)
    signer_given: bool = (
        False  # --signer/--ca-cert/--ca-key on the command line: do not sign as before
    )
    contexts: Tuple[str, ...] = ()  # a fleet person: the clusters to renew (default: all)


def renew(request, progress=lambda _message: None):
    """Renew a user; a fleet person on each of their clusters (or those of --context)."""
    state = clusters.current(ledger.history(request.out_dir, request.user))
    if clusters.is_fleet(state):
        renewals = renew_person(
            user=request.user,
            out_dir=request.out_dir,
            signing=request.signing,
            contexts=request.contexts or None,
            groups=request.groups,
            lifetime=request.validity,
            rekey=request.rekey,
            key_type=request.key_type,
            key_size=request.key_size,
            allow_system_masters=request.allow_system_masters,
            signer_given=request.signer_given,
            progress=progress,
        )
        return PerCluster(
            request.user,
            tuple((r.credential.cluster, r.credential.admin_context, r) for r in renewals),
        )
    if len(request.contexts) > 1:
        raise InvalidInput(
            f"{request.user} was issued for one cluster: one --context at most",
            hint="--context names the cluster to sign through",
        )
    signing, given = request.signing, request.signer_given or bool(request.signing.per_context)
    if signing.per_context:
        signing = per_cluster.single(signing)
    return renew_user(
        user=request.user,
        out_dir=request.out_dir,
        signing=signing,
        groups=request.groups,
        lifetime=request.validity,
        rekey=request.rekey,
        key_type=request.key_type,
        key_size=request.key_size,
        allow_system_masters=request.allow_system_masters,
        signer_given=given,
        progress=progress,
    )
