"""The right to self-renew (create/sign --self-renew, the roster's selfRenew: true): the least a
person needs to renew their own certificate through the CSR API, as one ClusterRole and its
ClusterRoleBinding, both named usercert:self-renew:USER.

RBAC cannot narrow `create` by name (the name is unknown when it is authorized), so the person may
file a request for any subject; `get` and `delete` are narrowed with resourceNames to the one name
their renewals use, so they read and withdraw only their own. `approve` denies what is not theirs.
"""

from ..pki.signers.cluster_csr import self_renewal_name

CSR_RULE = {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"]}
PREFIX = "usercert:self-renew:"


def role_name(user, name_part):
    return PREFIX + name_part(user, "~/%:")


def manifests(user, labels, annotation, name_part):
    """[ClusterRole, ClusterRoleBinding] granting `user` the right; labels and the user annotation as
    every binding this tool makes (so revoke finds it)."""
    name = role_name(user, name_part)
    metadata = {"name": name, "labels": dict(labels), "annotations": {annotation: user}}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": metadata,
            "rules": [
                dict(CSR_RULE, verbs=["create"]),
                dict(CSR_RULE, verbs=["get", "delete"], resourceNames=[self_renewal_name(user)]),
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": metadata,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    ]
