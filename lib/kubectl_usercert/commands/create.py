"""`create`: a fresh key, a certificate with exactly the asked-for subject, a kubeconfig, and RBAC.

Everything that can be checked is checked before the first file is written: the names, the
destination, the roles to bind, the CA, the admin's kubeconfig. The user's folder is built
privately and appears in one rename, recorded in the ledger in the same step, only after the
certificate verified against the CA and matched the key.
"""

import os
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Optional, Tuple

from ..cluster import identity, rbac
from ..cluster.rbac import BindingPlan
from ..errors import InvalidInput, OutputExists
from ..operations import fleet as fleet_ops
from ..operations import fleet_members
from ..operations.access import applied_bindings, checked_bindings
from ..operations.adopt import ca_known_here
from ..operations.issue import checked_subject, endpoint, issue_user, refuse_or_adopt
from ..output.fleet_results import FleetIssued
from ..output.results import AppliedUser, Issued, RosterApplied
from ..pki.keys import KeySpec
from ..pki.signers import SignerOptions, per_cluster
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
    contexts: Tuple[str, ...] = ()  # --context, once (one cluster) or more (a fleet)
    all_contexts: bool = False  # --all-contexts: a fleet of every context of the admin kubeconfig
    key_per_cluster: bool = False  # a fleet: a key for each cluster instead of one for all


def create(request, progress=lambda _message: None):
    """Issue a credential for request.user; `progress(message)` is told of each long step. A dry run
    makes every check up to the key, and returns the plan (a RosterApplied of one user) instead.
    With several contexts (or --all-contexts), one person on every cluster (see _create_fleet)."""
    if request.all_contexts or len(request.contexts) > 1:
        return _create_fleet(request, progress)
    if request.key_per_cluster:
        raise InvalidInput(
            "--key-per-cluster is for several clusters",
            hint="name them with --context A --context B (or --all-contexts)",
        )
    if request.signing.per_context:
        request = replace(request, signing=per_cluster.single(request.signing))
    subject, warnings = checked_subject(
        request.user,
        request.groups,
        key=request.key,
        allow_system_masters=request.allow_system_masters,
    )
    _refuse_existing(request, subject, ca_known_here(request.signing))
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
        bindings=manifests,
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


def _refuse_existing(request, subject, ca_cert=None):
    """Fail on existing output before any slow or sensitive work (and again under the lock)."""
    user_files = UserFiles.for_user(request.out_dir, subject.user)
    if not request.force and request.dry_run == "none":
        refuse_or_adopt(request.out_dir, subject.user, user_files, ca_cert)
    elif not request.force and os.path.lexists(
        user_files.directory
    ):  # (a dry run records nothing, adopts nothing)
        raise OutputExists(
            f"{user_files.directory} already exists",
            hint="pass --force to replace it, or choose another --out-dir",
        )
    return user_files


def _create_fleet(request, progress):
    """One person on several clusters: one key (or one each), a certificate from each cluster's
    signer, one kubeconfig; every cluster checked first, all of it or nothing (operations/fleet.py)."""
    for given, flag in (
        (request.server, "--server"),
        (request.signing.kubectl.cluster, "--cluster"),
    ):
        if given:
            raise InvalidInput(
                f"{flag} names one cluster, and there are several",
                hint="each context's cluster is the one the admin kubeconfig names for it; drop "
                + flag,
            )
    subject, warnings = checked_subject(
        request.user,
        request.groups,
        key=request.key,
        allow_system_masters=request.allow_system_masters,
    )
    user_files = _refuse_existing(request, subject)
    members, manifests = fleet_members.prepared(
        subject=subject,
        signing=request.signing,
        contexts=request.contexts,
        all_contexts=request.all_contexts,
        access=request.access,
        print_rbac=request.print_rbac,
        progress=progress,
    )
    if request.dry_run != "none":
        return _planned_fleet(request, subject, members, manifests, warnings, progress)
    credentials = fleet_ops.issue_person(
        subject=subject,
        members=members,
        out_dir=request.out_dir,
        lifetime=request.validity,
        key=request.key,
        key_per_cluster=request.key_per_cluster,
        pending_key=request.pending_key,
        namespace=request.namespace,
        force=request.force,
        bindings=manifests,
        progress=progress,
    )
    bindings = fleet_ops.bind_everywhere(
        members=members,
        manifests=manifests,
        directory=user_files.directory,
        print_rbac=request.print_rbac,
        progress=progress,
    )
    verifications = ()
    if request.verify:
        verifications = tuple(
            fleet_ops.ask_as(credential, request.signing.kubectl, progress)
            for credential in credentials
        )
    return FleetIssued(
        credentials,
        bindings,
        tuple(manifests),
        request.print_rbac,
        verifications,
        tuple(warnings),
    )


def _planned_fleet(request, subject, members, manifests, warnings, progress):
    """A fleet's plan: a line per cluster; with server, each cluster asked first."""
    names = [m["metadata"]["name"] for m in manifests if m["kind"].endswith("Binding")]
    rows = []
    for member in members:
        validity = member.signer.grant(request.validity)
        if request.dry_run == "server":
            member.signer.rehearse(subject, request.key, validity, progress)
            if manifests:
                progress(f"{member.cluster.name}: applying the RBAC bindings (server dry run)")
                rbac.apply(member.cluster.kubectl, manifests, dry_run="server")
        reasons = ["no credential here"] + ([", ".join(f"+{n}" for n in names)] if names else [])
        notes = [
            f"subject {subject.openssl_subj()}, key {request.key.describe()}"
            + ("" if request.key_per_cluster else " (one for every cluster)"),
            f"{member.signer.describe(validity)}; context {member.cluster.context}, "
            f"{member.cluster.endpoint.server}",
        ] + (warnings if member is members[0] else [])
        rows.append(
            AppliedUser(
                subject.user,
                ("create",) + (("rebind",) if names else ()),
                tuple(reasons),
                tuple(notes),
                cluster=member.cluster.name,
            )
        )
    return RosterApplied(tuple(rows), True, False)


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
