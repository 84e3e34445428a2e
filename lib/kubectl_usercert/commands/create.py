"""`create`: a fresh key, a certificate with exactly the asked-for subject, a kubeconfig, and RBAC.

Everything that can be checked is checked before the first file is written: the names, the
destination, the roles to bind, the CA, the admin's kubeconfig. The user's folder is built
privately and appears in one rename, recorded in the ledger in the same step, only after the
certificate verified against the CA and matched the key.
"""

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Optional, Tuple

from ..cluster import identity, rbac
from ..cluster.rbac import BindingPlan
from ..errors import OutputExists
from ..operations.access import applied_bindings, checked_bindings
from ..operations.adopt import ca_known_here
from ..operations.issue import checked_subject, endpoint, issue_user, refuse_or_adopt
from ..output.results import AppliedUser, Issued, RosterApplied
from ..pki.keys import KeySpec
from ..pki.signers import SignerOptions
from ..pki.signers.chooser import choose_signer
from ..store.layout import UserFiles


@dataclass(frozen=True, eq=False, repr=False)
class CreateRequest:
    user: str
    groups: Tuple[str, ...] = ()
    out_dir: str = "clients"
    validity: timedelta = timedelta(days=365)
    key: KeySpec = KeySpec()
    namespace: Optional[str] = None
    force: bool = False
    allow_system_masters: bool = False
    signing: SignerOptions = field(default_factory=SignerOptions)
    server: Optional[str] = None
    access: BindingPlan = field(default_factory=BindingPlan)
    print_rbac: bool = False  # hand the bindings back as manifests instead of applying them
    verify: bool = False  # then ask the cluster who the new credential is
    pending_key: Optional[object] = (
        None  # an openssl.PendingKey started before (else made when needed)
    )
    dry_run: str = (
        "none"  # client: every check, then the plan, nothing written; server: the cluster asked too
    )


def create(request, progress=lambda _message: None):
    """Issue a credential for request.user; `progress(message)` is told of each long step. A dry run
    makes every check up to the key, and returns the plan (a RosterApplied of one user) instead."""
    subject, warnings = checked_subject(
        request.user,
        request.groups,
        key=request.key,
        allow_system_masters=request.allow_system_masters,
    )
    user_files = UserFiles.for_user(request.out_dir, subject.user)
    # Fail on existing output before any slow or sensitive work (and again under the lock).
    if not request.force and request.dry_run == "none":
        refuse_or_adopt(request.out_dir, subject.user, user_files, ca_known_here(request.signing))
    elif not request.force and os.path.lexists(
        user_files.directory
    ):  # (a dry run records nothing, adopts nothing)
        raise OutputExists(
            f"{user_files.directory} already exists",
            hint="pass --force to replace it, or choose another --out-dir",
        )
    manifests = checked_bindings(
        kubectl=request.signing.kubectl,
        access=request.access,
        subject=subject,
        print_rbac=request.print_rbac,
        progress=progress,
    )
    signer = choose_signer(request.signing, subject, progress)
    found = endpoint(request.signing.kubectl, request.server, signer, warnings)
    if request.dry_run != "none":
        return _planned(
            request,
            subject,
            signer,
            found,
            signer.grant(request.validity),
            manifests,
            warnings,
            progress,
        )
    credential = issue_user(
        subject=subject,
        signer=signer,
        endpoint=found,
        out_dir=request.out_dir,
        lifetime=request.validity,
        key=request.key,
        pending_key=request.pending_key,
        namespace=request.namespace,
        force=request.force,
        warnings=warnings,
        extra_files={"rbac.yaml": rbac.to_yaml(manifests)} if manifests else None,
        self_renew=request.access.self_renew,
        progress=progress,
    )
    bindings = applied_bindings(
        kubectl=request.signing.kubectl,
        manifests=manifests,
        credential=credential,
        print_rbac=request.print_rbac,
        progress=progress,
    )
    verification = None
    if request.verify:
        progress("Asking the cluster who this credential is")
        verification = identity.ask(
            request.signing.kubectl.as_user(credential.kubeconfig), subject.user, subject.groups
        )
    return Issued(credential, bindings, tuple(manifests), request.print_rbac, verification)


def _planned(request, subject, signer, found, validity, manifests, warnings, progress):
    """The plan of a dry run; with server, the cluster asked first (the request, the bindings)."""
    if request.dry_run == "server":
        signer.rehearse(subject, request.key, validity, progress)
        if manifests:
            progress("Applying the RBAC bindings (server dry run)")
            rbac.apply(request.signing.kubectl, manifests, dry_run="server")
    names = [m["metadata"]["name"] for m in manifests if m["kind"].endswith("Binding")]
    existing = os.path.lexists(UserFiles.for_user(request.out_dir, subject.user).directory)
    reasons = ["replaces the folder there (--force)" if existing else "no credential here"] + (
        [", ".join(f"+{name}" for name in names)] if names else []
    )
    notes = [
        f"subject {subject.openssl_subj()}, key {request.key.describe()}",
        f"{signer.describe(validity)}; kubeconfig for {found.server} (cluster {found.name})",
        *warnings,
    ]
    return RosterApplied(
        (
            AppliedUser(
                subject.user,
                ("create",) + (("rebind",) if names else ()),
                tuple(reasons),
                tuple(notes),
            ),
        ),
        True,
        False,
    )
