"""RBAC (plugin/pkg/auth/authorizer/rbac): request attributes, the authorizer, kube's forbidden message."""

from dataclasses import dataclass
from typing import List, Tuple

from .authentication import MASTERS, UserInfo
from .errors import APIError
from .store import ObjectStore

RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass
class Attributes:
    """authorizer.Attributes of one request."""

    user: UserInfo
    verb: str
    path: str
    resource_request: bool = False
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


def forbidden_message(a: Attributes) -> str:
    """responsewriters.forbiddenMessage wrapped by errors.NewForbidden."""
    if not a.resource_request:
        return 'forbidden: User "%s" cannot %s path "%s"' % (a.user.name, a.verb, a.path)
    resource = a.resource + ("/" + a.subresource if a.subresource else "")
    if a.namespace:
        what = 'User "%s" cannot %s resource "%s" in API group "%s" in the namespace "%s"' % (
            a.user.name,
            a.verb,
            resource,
            a.api_group,
            a.namespace,
        )
    else:
        what = 'User "%s" cannot %s resource "%s" in API group "%s" at the cluster scope' % (
            a.user.name,
            a.verb,
            resource,
            a.api_group,
        )
    qualified = "%s.%s" % (a.resource, a.api_group) if a.api_group else a.resource
    if a.name:
        return '%s "%s" is forbidden: %s' % (qualified, a.name, what)
    return "%s is forbidden: %s" % (qualified, what)


def _rule_allows(rule: dict, a: Attributes) -> bool:
    def has(key, value):
        values = rule.get(key) or []
        return "*" in values or value in values

    if not has("verbs", a.verb):
        return False
    if not a.resource_request:
        return any(
            u == "*" or u == a.path or (u.endswith("*") and a.path.startswith(u[:-1]))
            for u in rule.get("nonResourceURLs") or []
        )
    combined = a.resource + ("/" + a.subresource if a.subresource else "")
    resources = rule.get("resources") or []
    resource_ok = (
        "*" in resources
        or combined in resources
        or (a.subresource and "*/" + a.subresource in resources)
        or a.resource + "/*" in resources
    )
    names = rule.get("resourceNames") or []
    return has("apiGroups", a.api_group) and resource_ok and (not names or a.name in names)


def _subject_matches(subject: dict, user: UserInfo, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_namespace
        return user.name == "system:serviceaccount:%s:%s" % (ns, name)
    return False


class RBACAuthorizer:
    def __init__(self, store: ObjectStore):
        self.store = store
        rbac = lambda r: store.type_for(RBAC_GROUP, "v1", r)  # noqa: E731
        self.roles, self.cluster_roles = rbac("roles"), rbac("clusterroles")
        self.bindings, self.cluster_bindings = rbac("rolebindings"), rbac("clusterrolebindings")

    def _role_rules(self, ref: dict, namespace: str) -> List[dict]:
        if ref.get("kind") == "ClusterRole":
            return self.store.get(self.cluster_roles, "", ref.get("name", "")).get("rules") or []
        return self.store.get(self.roles, namespace, ref.get("name", "")).get("rules") or []

    def applicable(self, user: UserInfo, namespace: str):
        """(binding description, rules) pairs, and errors for dangling roleRefs."""
        found, errors = [], []
        sources = [(b, "ClusterRoleBinding") for b in self.store.list(self.cluster_bindings)]
        if namespace:
            sources += [(b, "RoleBinding") for b in self.store.list(self.bindings, namespace)]
        for binding, kind in sources:
            ns = binding["metadata"].get("namespace", "")
            if not any(_subject_matches(s, user, ns) for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            try:
                rules = self._role_rules(ref, ns)
            except APIError as e:
                errors.append(str(e))
                continue
            desc = '%s "%s" of %s "%s"' % (
                kind,
                binding["metadata"]["name"],
                ref.get("kind"),
                ref.get("name"),
            )
            found.append((desc, rules))
        return found, errors

    def authorize(self, a: Attributes) -> Tuple[bool, str]:
        if MASTERS in a.user.groups:
            return True, ""  # the superuser authorizer runs before RBAC
        found, errors = self.applicable(a.user, a.namespace if a.resource_request else "")
        for desc, rules in found:
            if any(_rule_allows(r, a) for r in rules):
                return True, "RBAC: allowed by %s to %s" % (desc, self._who(a.user))
        if not errors:
            return False, ""
        return False, "RBAC: " + (errors[0] if len(errors) == 1 else "[%s]" % ", ".join(errors))

    @staticmethod
    def _who(user: UserInfo) -> str:
        return 'User "%s"' % user.name
