"""`create`: a fresh key, a certificate with exactly the asked-for subject, a kubeconfig, and RBAC.

Everything that can be checked is checked before the first file is written: the names, the
destination, the roles to bind, the CA, the admin's kubeconfig. The user's folder is built
privately and appears in one rename, recorded in the ledger in the same step, only after the
certificate verified against the CA and matched the key.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Optional, Tuple

from .. import adoption, issuance, openssl, rbac, signals, whoami
from ..errors import UsercertError
from ..keys import KeySpec
from ..layout import UserFiles
from ..rbac import BindingPlan
from ..results import Issued
from ..signers import SignerOptions, choose_signer
from ..subject import make_subject, subject_warnings


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
    pending_key: Optional[object] = None  # an openssl.PendingKey started before (else made when needed)


def create(request, progress=lambda _message: None):
    """Issue a credential for request.user; `progress(message)` is told of each long step."""
    subject = make_subject(request.user, request.groups)
    warnings = subject_warnings(subject, request.allow_system_masters)
    openssl.require_key_support(request.key)
    # Fail on existing output before any slow or sensitive work (and again under the lock).
    if not request.force:
        issuance.refuse_or_adopt(request.out_dir, subject.user, UserFiles.for_user(request.out_dir, subject.user),
                                 adoption.ca_known_here(request.signing))
    manifests = _checked_bindings(request, subject, progress)
    signer = choose_signer(request.signing, subject, progress)
    found = issuance.endpoint(request.signing.kubectl, request.server, signer, warnings)
    validity = signer.grant(request.validity)
    credential = issuance.issue(
        subject, signer, found, lambda staged: issuance.new_key_signed(staged, subject, request.key, signer, validity,
                                                                      progress, request.pending_key),
        out_dir=request.out_dir, lifetime=request.validity, namespace=request.namespace, force=request.force,
        warnings=warnings, progress=progress,
        extra_files={"rbac.yaml": rbac.to_yaml(manifests)} if manifests else None)
    bindings = _bindings(request, manifests, credential, progress)
    verification = None
    if request.verify:
        progress("Asking the cluster who this credential is")
        verification = whoami.ask(request.signing.kubectl.as_user(credential.kubeconfig), subject.user, subject.groups)
    return Issued(credential, bindings, tuple(manifests), request.print_rbac, verification)


def _checked_bindings(request, subject, progress):
    """The bindings to make, checked against the cluster before anything is issued (unless only printed)."""
    if request.access.empty:
        return []
    manifests = rbac.binding_manifests(request.access, subject.user, subject.groups)
    if not request.print_rbac:
        progress("Checking that the roles to bind exist")
        for namespace in sorted({m["metadata"]["namespace"] for m in manifests if m["metadata"].get("namespace")}):
            rbac.check_namespace_exists(request.signing.kubectl, namespace)
        rbac.check_roles_exist(request.signing.kubectl, request.access)
        rbac.check_names_free(request.signing.kubectl, manifests)
    return manifests


def _bindings(request, manifests, credential, progress):
    bindings = tuple(b for b in map(rbac.binding_from, manifests) if b is not None and b.kind.endswith("Binding"))
    if not manifests or request.print_rbac:
        return bindings
    later = (f"the credential was written to {credential.directory}; apply the bindings with: "
             f"kubectl apply -f {UserFiles(credential.directory, '').rbac}")
    progress("Applying the RBAC bindings")
    try:
        rbac.apply(request.signing.kubectl, manifests)
    except UsercertError as exc:
        exc.hint = later
        raise
    except BaseException:
        signals.record(later)
        raise
    return bindings
