"""Field validation (fieldValidation=Strict|Warn|Ignore): the unknown fields of a sent object."""

from typing import List

_ANY = "any"  # a value whose inside is not checked (maps, free-form)
_OBJECT_META = {
    k: _ANY
    for k in (
        "name",
        "generateName",
        "namespace",
        "labels",
        "annotations",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "finalizers",
        "ownerReferences",
        "managedFields",
        "generation",
        "selfLink",
    )
}
_TOP = {"apiVersion": _ANY, "kind": _ANY, "metadata": _OBJECT_META}
_POLICY_RULE = {
    k: _ANY for k in ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")
}
_SUBJECT = {k: _ANY for k in ("kind", "apiGroup", "name", "namespace")}
_ROLE_REF = {k: _ANY for k in ("apiGroup", "kind", "name")}
_CSR_SPEC = {
    k: _ANY
    for k in (
        "request",
        "signerName",
        "expirationSeconds",
        "usages",
        "username",
        "uid",
        "groups",
        "extra",
    )
}
_CSR_CONDITION = {
    k: _ANY for k in ("type", "status", "reason", "message", "lastUpdateTime", "lastTransitionTime")
}
# Kinds whose fields are known here; others are accepted as sent.
FIELD_SCHEMAS = {
    "ClusterRole": dict(_TOP, rules=[_POLICY_RULE], aggregationRule={"clusterRoleSelectors": _ANY}),
    "Role": dict(_TOP, rules=[_POLICY_RULE]),
    "ClusterRoleBinding": dict(_TOP, subjects=[_SUBJECT], roleRef=_ROLE_REF),
    "RoleBinding": dict(_TOP, subjects=[_SUBJECT], roleRef=_ROLE_REF),
    "CertificateSigningRequest": dict(
        _TOP, spec=_CSR_SPEC, status={"conditions": [_CSR_CONDITION], "certificate": _ANY}
    ),
}


def unknown_fields(obj, schema, path: str = "") -> List[str]:
    """Paths as kube's strict decoder names them: rules[0].verb"""
    if schema == _ANY:
        return []
    if isinstance(schema, list):
        items = obj if isinstance(obj, list) else []
        return [
            p
            for i, item in enumerate(items)
            for p in unknown_fields(item, schema[0], "%s[%d]" % (path, i))
        ]
    if not isinstance(obj, dict):
        return []
    found = []
    for key, value in obj.items():
        sub = "%s.%s" % (path, key) if path else key
        found += [sub] if key not in schema else unknown_fields(value, schema[key], sub)
    return found
