"""What the server holds at start: the built-in resource types, kube's bootstrap RBAC objects,
namespaces and a few pods."""

from typing import Dict, List

from .authentication import AUTHENTICATED, MASTERS, UNAUTHENTICATED
from .rbac import RBAC_GROUP
from .resources import ResourceType


def builtin_types() -> List[ResourceType]:
    core = lambda *a, **k: ResourceType("", "v1", *a, **k)  # noqa: E731
    rbac = lambda *a, **k: ResourceType(RBAC_GROUP, "v1", *a, **k)  # noqa: E731
    review = dict(verbs=("create",), review=True)
    return [
        core("namespaces", "Namespace", False, ("ns",)),
        core("pods", "Pod", True, ("po",)),
        rbac("clusterroles", "ClusterRole", False),
        rbac("clusterrolebindings", "ClusterRoleBinding", False),
        rbac("roles", "Role", True),
        rbac("rolebindings", "RoleBinding", True),
        ResourceType(
            "certificates.k8s.io",
            "v1",
            "certificatesigningrequests",
            "CertificateSigningRequest",
            False,
            ("csr",),
            selectable_fields=("spec.signerName",),
        ),
        ResourceType(
            "authentication.k8s.io",
            "v1",
            "selfsubjectreviews",
            "SelfSubjectReview",
            False,
            **review,
        ),
        ResourceType(
            "authentication.k8s.io",
            "v1beta1",
            "selfsubjectreviews",
            "SelfSubjectReview",
            False,
            hidden=True,
            **review,
        ),
        ResourceType(
            "authentication.k8s.io",
            "v1alpha1",
            "selfsubjectreviews",
            "SelfSubjectReview",
            False,
            hidden=True,
            **review,
        ),
        ResourceType(
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            False,
            **review,
        ),
        ResourceType(
            "authorization.k8s.io",
            "v1",
            "selfsubjectrulesreviews",
            "SelfSubjectRulesReview",
            False,
            **review,
        ),
    ]


def _rule(verbs, groups, resources, **extra) -> dict:
    rule = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    rule.update(extra)
    return rule


_READ = ("get", "list", "watch")
_WRITE = ("create", "delete", "deletecollection", "patch", "update")
_CORE_READABLE = (
    "pods",
    "pods/log",
    "pods/status",
    "services",
    "endpoints",
    "configmaps",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "events",
    "namespaces",
    "serviceaccounts",
    "resourcequotas",
    "limitranges",
)
_DISCOVERY_URLS = [
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/openapi",
    "/openapi/*",
    "/readyz",
    "/version",
    "/version/",
]


def bootstrap_cluster_roles() -> Dict[str, List[dict]]:
    """Rules of kube's bootstrap ClusterRoles, trimmed to the resources served here."""
    namespaced_core = [r for r in _CORE_READABLE if r != "namespaces"]
    return {
        "cluster-admin": [_rule(["*"], ["*"], ["*"]), {"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "admin": [
            _rule(_READ + _WRITE, [""], namespaced_core + ["secrets"]),
            _rule(_READ, [""], ["namespaces"]),
            _rule(_READ + _WRITE, [RBAC_GROUP], ["roles", "rolebindings"]),
        ],
        "edit": [
            _rule(_READ + _WRITE, [""], namespaced_core + ["secrets"]),
            _rule(_READ, [""], ["namespaces"]),
        ],
        "view": [_rule(_READ, [""], _CORE_READABLE)],
        "system:discovery": [{"verbs": ["get"], "nonResourceURLs": _DISCOVERY_URLS}],
        "system:public-info-viewer": [
            {
                "verbs": ["get"],
                "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
            }
        ],
        "system:basic-user": [
            _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
            _rule(
                ["create"],
                ["authorization.k8s.io"],
                ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            ),
        ],
    }


def _group_subjects(*groups: str) -> List[dict]:
    return [{"kind": "Group", "apiGroup": RBAC_GROUP, "name": g} for g in groups]


def bootstrap_objects(anonymous_discovery: bool = True) -> List[dict]:
    boot = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    objs = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": n},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
        for n in ("default", "kube-node-lease", "kube-public", "kube-system")
    ]
    for name, rules in bootstrap_cluster_roles().items():
        objs.append(
            {
                "apiVersion": RBAC_GROUP + "/v1",
                "kind": "ClusterRole",
                "metadata": {"name": name, "labels": dict(boot)},
                "rules": rules,
            }
        )
    discovery = (AUTHENTICATED, UNAUTHENTICATED) if anonymous_discovery else (AUTHENTICATED,)
    for name, groups in (
        ("cluster-admin", (MASTERS,)),
        ("system:discovery", discovery),
        ("system:basic-user", (AUTHENTICATED,)),
        ("system:public-info-viewer", (AUTHENTICATED, UNAUTHENTICATED)),
    ):
        objs.append(
            {
                "apiVersion": RBAC_GROUP + "/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name, "labels": dict(boot)},
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
                "subjects": _group_subjects(*groups),
            }
        )
    objs += [
        make_pod("default", "nginx-7c5ddbdf54-2xkqp", "nginx:1.27"),
        make_pod("default", "web-0", "httpd:2.4"),
        make_pod(
            "kube-system", "coredns-668d6bf9bc-4m9jq", "registry.k8s.io/coredns/coredns:v1.11.3"
        ),
    ]
    return objs


def make_pod(namespace: str, name: str, image: str) -> dict:
    """A Running single-container pod, as a fixture for `kubectl get pods`."""
    container = name.split("-")[0]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": container}},
        "spec": {"containers": [{"name": container, "image": image}], "nodeName": "node-1"},
        "status": {
            "phase": "Running",
            "podIP": "10.244.0.%d" % (len(name) % 250 + 2),
            "containerStatuses": [
                {
                    "name": container,
                    "image": image,
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {}},
                }
            ],
        },
    }
