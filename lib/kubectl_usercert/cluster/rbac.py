"""RBAC for the certificates this tool issues: bindings made with `create`, removed by `revoke`.

Bindings are named `usercert:USER:ROLE` (`usercert:group:GROUP:ROLE` with --bind-group; a ':' in
USER or GROUP is written `~c`, so distinct users and roles never share a name), carry
the label app.kubernetes.io/managed-by=kubectl-usercert and the exact user or group in an
annotation, and are applied with `kubectl apply` so re-running changes nothing.
"""

import json
import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from .. import PRESETS, signals
from ..errors import InvalidInput, UsercertError
from ..output import yamltext
from . import self_renewal_rbac
from .kubeconfig import kubeconfig_paths
from .kubectl import summary

RBAC_API = "rbac.authorization.k8s.io/v1"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "kubectl-usercert"
USER_ANNOTATION = "kubectl-usercert/user"
GROUP_ANNOTATION = "kubectl-usercert/group"
READ_ONLY_ROLE = "usercert:read-only"


@dataclass(frozen=True, eq=False, repr=False)
class RoleRef:
    kind: str  # Role or ClusterRole
    name: str
    namespace: Optional[str] = None  # where the binding goes; None: cluster-wide


@dataclass
class BindingPlan:
    """What `create` will bind: roles, where, and to whom."""

    roles: List[RoleRef] = field(default_factory=list)
    bind_group: bool = False
    create_read_only_role: bool = False
    self_renew: bool = False  # the right to renew one's own certificate (self_renewal_rbac)

    @property
    def empty(self):
        return not self.roles and not self.self_renew


def plan_bindings(
    clusterroles=(), roles=(), namespace=None, preset=None, bind_group=False, self_renew=False
):
    if roles and not namespace:
        raise InvalidInput(
            "--role binds in a namespace", hint="add -n NAMESPACE (or use --clusterrole)"
        )
    plan = BindingPlan(bind_group=bind_group, self_renew=self_renew)
    if preset:
        if preset not in PRESETS:
            raise InvalidInput(
                f"unknown preset {preset!r}", hint=f"use one of: {', '.join(PRESETS)}"
            )
        plan.create_read_only_role = preset == "read-only"
        clusterroles = (READ_ONLY_ROLE if preset == "read-only" else preset,) + tuple(clusterroles)
    for name in dict.fromkeys(clusterroles):
        plan.roles.append(RoleRef("ClusterRole", name, namespace))
    for name in dict.fromkeys(roles):
        plan.roles.append(RoleRef("Role", name, namespace))
    return plan


def read_only_cluster_role():
    """The blog's read-only-user role, under the tool's name."""
    return {
        "apiVersion": RBAC_API,
        "kind": "ClusterRole",
        "metadata": {"name": READ_ONLY_ROLE, "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["pods", "namespaces"],
                "verbs": ["get", "list", "watch"],
            }
        ],
    }


_NAME_ESCAPES = {"~": "~~", "/": "~s", "%": "~p", ":": "~c"}


def name_part(text, escaped="~/%"):
    # RBAC names may hold anything but '/' and '%'; '~' escapes them, reversibly, so no two names meet.
    return re.sub(f"[{escaped}]", lambda match: _NAME_ESCAPES[match.group(0)], text)


def binding_manifests(plan, user, groups):
    """The (Cluster)RoleBindings of the plan, in order, preceded by the preset ClusterRole if any."""
    manifests = [read_only_cluster_role()] if plan.create_read_only_role else []
    subjects = [("Group", group) for group in groups] if plan.bind_group else [("User", user)]
    if plan.bind_group and not groups:
        raise InvalidInput(
            "--bind-group needs at least one group", hint="add -g GROUP, or drop --bind-group"
        )
    system_groups = (
        [group for group in groups if group.startswith("system:")] if plan.bind_group else []
    )
    if system_groups:
        raise InvalidInput(
            f"--bind-group would bind {system_groups[0]}, a Kubernetes system group that holds "
            "users this certificate does not make (system:authenticated is every user)",
            hint="bind the user instead (drop --bind-group), or bind that group by hand if you mean it",
        )
    for role in plan.roles:
        for kind, name in subjects:
            manifests.append(_binding(role, kind, name))
    if plan.self_renew:
        manifests += self_renewal_rbac.manifests(
            user, {MANAGED_BY_LABEL: MANAGED_BY}, USER_ANNOTATION, name_part
        )
    return manifests


def _binding(role, subject_kind, subject_name):
    prefix = "usercert:group:" if subject_kind == "Group" else "usercert:"
    metadata = {
        # ':' escaped in the subject too, so the first ':' after it ends it: user a:b with role c and user a
        # with role b:c would otherwise both be usercert:a:b:c, and the second apply would take the first's over
        "name": f"{prefix}{name_part(subject_name, '~/%:')}:{name_part(role.name)}",
        "labels": {MANAGED_BY_LABEL: MANAGED_BY},
        "annotations": {
            GROUP_ANNOTATION if subject_kind == "Group" else USER_ANNOTATION: subject_name
        },
    }
    if role.namespace:
        metadata["namespace"] = role.namespace
    return {
        "apiVersion": RBAC_API,
        "kind": "RoleBinding" if role.namespace else "ClusterRoleBinding",
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role.kind, "name": role.name},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": subject_kind, "name": subject_name}
        ],
    }


def to_yaml(manifests):
    return yamltext.dump_all(manifests)


# --- talking to the cluster -----------------------------------------------------------------


def check_roles_exist(kubectl, plan):
    """Every role the plan binds must exist (unless the preset creates it): checked before issuing."""
    for role in plan.roles:
        if plan.create_read_only_role and role.name == READ_ONLY_ROLE:
            continue
        args = ["get", f"{role.kind.lower()}s.rbac.authorization.k8s.io", role.name, "-o", "name"]
        if role.kind == "Role":
            args += ["-n", role.namespace]
        where = f' in namespace "{role.namespace}"' if role.kind == "Role" else ""
        _must_exist(
            kubectl,
            args,
            f'{role.kind} "{role.name}"{where}',
            f"create it first, or pick another (kubectl get {role.kind.lower()}s)",
        )


def check_can_bind(kubectl, access, manifests):
    """Everything that would make applying the manifests fail after a credential was issued: a
    namespace, a role that does not exist, a binding of that name that binds someone else."""
    for namespace in sorted(
        {m["metadata"]["namespace"] for m in manifests if m["metadata"].get("namespace")}
    ):
        check_namespace_exists(kubectl, namespace)
    check_roles_exist(kubectl, access)
    check_names_free(kubectl, manifests)


def check_namespace_exists(kubectl, namespace):
    """A RoleBinding into a namespace that is not there fails only after the certificate was issued:
    checked before."""
    _must_exist(
        kubectl,
        ["get", "namespace", namespace, "-o", "name"],
        f'namespace "{namespace}"',
        f"create it first (kubectl create namespace {namespace}), or pick another",
    )


def _must_exist(kubectl, args, what, hint):
    try:
        kubectl.checked(args, f"check {what}")
    except UsercertError as exc:
        if getattr(exc, "kind", None) == "missing":
            raise InvalidInput(f"{what} does not exist", hint=hint) from None
        raise


def check_names_free(kubectl, manifests):
    """Refuse to apply over a binding of the same name that binds someone else (kubectl apply would
    silently replace its subjects, taking access from whoever it named)."""
    for manifest in manifests:
        if not manifest["kind"].endswith("Binding"):
            continue
        args = [
            "get",
            f"{manifest['kind'].lower()}s.rbac.authorization.k8s.io",
            manifest["metadata"]["name"],
            "-o",
            "json",
            "--ignore-not-found",
        ]
        if manifest["metadata"].get("namespace"):
            args += ["-n", manifest["metadata"]["namespace"]]
        existing = kubectl.json(
            args, f'look up {manifest["kind"]} "{manifest["metadata"]["name"]}"', allow_empty=True
        )
        if existing is None:
            continue
        if (
            existing.get("subjects") != manifest["subjects"]
            or existing.get("roleRef") != manifest["roleRef"]
        ):
            raise InvalidInput(
                f'{manifest["kind"]} "{manifest["metadata"]["name"]}" exists and binds something else',
                hint="look at it with kubectl get -o yaml; rename or delete it first",
            )


def apply(kubectl, manifests, dry_run="none"):
    """kubectl apply the manifests (with dry_run "server": the cluster checks them, keeps nothing); return
    the names of the bindings applied."""
    server = ["--dry-run=server"] if dry_run == "server" else []
    kubectl.checked(
        ["apply", *server, "-f", "-"],
        "apply the RBAC bindings" + (" (server dry run)" if server else ""),
        text=to_yaml(manifests),
    )
    names = [m["metadata"]["name"] for m in manifests if m["kind"].endswith("Binding")]
    if not server:
        signals.record("applied " + ", ".join(names))
    return names


@dataclass(frozen=True, eq=False, repr=False)
class Binding:
    kind: str
    name: str
    namespace: Optional[str]
    role: str
    subject_kind: str
    subject: str

    @property
    def ref(self):
        return f"{self.kind.lower()}.rbac.authorization.k8s.io/{self.name}"


def managed_bindings(kubectl):
    """Every binding this tool made, cluster-wide."""
    what = "list the bindings this tool made"
    answer = kubectl.json(
        [
            "get",
            "clusterrolebindings.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io",
            "--all-namespaces",
            "-l",
            f"{MANAGED_BY_LABEL}={MANAGED_BY}",
            "-o",
            "json",
        ],
        what,
    )
    items = answer.get("items")
    if items is None:
        return []
    if not isinstance(items, list):
        raise garbled(what, answer)
    bindings = []
    for item in items:
        try:
            bindings.append(binding_from(item))
        except (TypeError, ValueError):
            raise garbled(what, item) from None
    return [b for b in bindings if b is not None]


def bindings_among(manifests):
    """The bindings (rbac.Binding) among `manifests` (roles and other objects left out)."""
    return tuple(
        b for b in map(binding_from, manifests) if b is not None and b.kind.endswith("Binding")
    )


def binding_from(item):
    """The Binding a (Cluster)RoleBinding this tool made describes (the subject from its annotation), or
    None for anything else; TypeError for an item that is not a Kubernetes object at all."""
    metadata = _mapping(item, "metadata")
    annotations = _mapping(metadata, "annotations")
    subject_kind = "Group" if GROUP_ANNOTATION in annotations else "User"
    subject = annotations.get(GROUP_ANNOTATION if subject_kind == "Group" else USER_ANNOTATION)
    if not isinstance(subject, str):
        return None
    kind, name, namespace = (
        item.get("kind", ""),
        metadata.get("name", ""),
        metadata.get("namespace"),
    )
    role = _mapping(item, "roleRef").get("name", "")
    if not all(isinstance(value, str) for value in (kind, name, role)) or not isinstance(
        namespace, (str, type(None))
    ):
        raise TypeError("a field of the binding is not a string")
    return Binding(kind, name, namespace, role, subject_kind, subject)


def _mapping(parent, key):
    if not isinstance(parent, dict):
        raise TypeError("not a JSON object")
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not a JSON object")
    return value


def garbled(what, answer):
    """The error for a kubectl answer that is JSON, but not the Kubernetes objects asked for."""
    error = UsercertError(
        f"kubectl's answer when asked to {what} is not a list of Kubernetes objects",
        details=json.dumps(answer)[:200],
        hint="check kubectl itself (kubectl version; USERCERT_KUBECTL picks another)",
    )
    error.kind = "garbled"  # (its answer stays out of result fields: see kubectl.summary)
    return error


def bindings_of(bindings, user, groups: Tuple[str, ...] = ()):
    return [
        b
        for b in bindings
        if (b.subject_kind == "User" and b.subject == user)
        or (b.subject_kind == "Group" and b.subject in groups)
    ]


def delete(kubectl, binding, dry_run="none"):
    server = ["--dry-run=server"] if dry_run == "server" else []
    args = ["delete", *server, binding.ref, "--ignore-not-found"]
    if binding.namespace:
        args += ["-n", binding.namespace]
    kubectl.checked(args, f"delete {binding.ref}" + (" (server dry run)" if server else ""))
    if not server:
        signals.record(f"deleted {binding.kind} {binding.name}")


def bindings_if_reachable(kubectl):
    """(bindings, None) from the admin's cluster, or (None, why not); (None, None) with no kubeconfig at all."""
    try:
        if not kubeconfig_paths(kubectl.kubeconfig):
            return None, None
        return managed_bindings(kubectl), None
    except UsercertError as exc:
        return None, f"bindings not shown: {summary(exc)}"
