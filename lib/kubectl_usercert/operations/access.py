"""Access in the same command as the credential (create, sign): the RBAC bindings to make, checked
against the cluster before anything is issued (unless only printed), then applied once the
credential stands."""

from .. import signals
from ..cluster import rbac
from ..errors import UsercertError
from ..store.layout import UserFiles


def checked_bindings(*, kubectl, access, subject, print_rbac, progress):
    """The manifests of the bindings `access` (an rbac.BindingPlan) asks for; unless `print_rbac`,
    the namespaces, roles and binding names checked against the cluster first."""
    if access.empty:
        return []
    manifests = rbac.binding_manifests(access, subject.user, subject.groups)
    if not print_rbac:
        progress("Checking that the roles to bind exist")
        rbac.check_can_bind(kubectl, access, manifests)
    return manifests


def applied_bindings(*, kubectl, manifests, credential, print_rbac, progress):
    """The bindings of `manifests` (rbac.Binding), applied unless `print_rbac`; when that fails,
    the error says how to apply them later (the credential is written already)."""
    bindings = rbac.bindings_among(manifests)
    if not manifests or print_rbac:
        return bindings
    later = (
        f"the credential was written to {credential.directory}; apply the bindings with: "
        f"kubectl apply -f {UserFiles(credential.directory, '').rbac}"
    )
    progress("Applying the RBAC bindings")
    try:
        rbac.apply(kubectl, manifests)
    except UsercertError as exc:
        exc.hint = later
        raise
    except BaseException:
        signals.record(later)
        raise
    return bindings
