"""The approval subresource of CertificateSigningRequests (.../certificatesigningrequests/NAME/approval):
csrApprovalStrategy, the conditions' validation, and the CertificateApproval admission plugin.

What reaches it: GET; PUT of the whole object with new conditions (`kubectl certificate approve|deny`,
which always writes reason KubectlApprove/KubectlDeny, and `kubectl replace --raw .../approval -f FILE`
for a reason and message of one's own); PATCH (`kubectl patch csr NAME --subresource=approval`, which
kubectl allows from 1.32 on: 1.27-1.31 refuse any subresource but status and scale). RBAC asked for
`update` (PUT) or `patch` (PATCH) on certificatesigningrequests/approval before this runs; admission then
wants `approve` on signers/SIGNERNAME (or signers/DOMAIN/*), as kube-apiserver does for both verbs.
"""

import copy
import json
from typing import TYPE_CHECKING, List, Optional, Tuple

from .authentication import UserInfo
from .csr import CERTIFICATES_GROUP, Cause, _quoted, admission_forbidden, invalid
from .errors import APIError, method_not_allowed
from .patches import apply_patch
from .rbac import Attributes, RBACAuthorizer
from .resources import ResourceType
from .timestamps import _timestamp

if TYPE_CHECKING:
    from .server import APIServer

_TRUE_ONLY = ("Approved", "Denied", "Failed")  # condition types whose status must be "True"


def validate_csr_conditions(
    conditions: List[dict], old: Optional[List[dict]] = None
) -> List[Cause]:
    """validateConditions, plus 'updates may not remove' when `old` conditions are given."""
    causes: List[Cause] = []
    seen, approved, denied = set(), False, False
    for i, c in enumerate(conditions):
        path, kind, status = "status.conditions[%d]" % i, c.get("type") or "", c.get("status") or ""
        if not kind:
            causes.append(("FieldValueRequired", path + ".type", "Required value"))
        allowed = ["True"] if kind in _TRUE_ONLY else ["False", "True", "Unknown"]
        if not status:
            causes.append(("FieldValueRequired", path + ".status", "Required value"))
        elif status not in allowed:
            causes.append(
                (
                    "FieldValueNotSupported",
                    path + ".status",
                    "Unsupported value: %s: supported values: %s"
                    % (json.dumps(status), _quoted(allowed)),
                )
            )
        if (kind == "Approved" and denied) or (kind == "Denied" and approved):
            causes.append(
                (
                    "FieldValueInvalid",
                    path + ".type",
                    "Invalid value: %s: Approved and Denied conditions "
                    "are mutually exclusive" % json.dumps(kind),
                )
            )
        approved, denied = approved or kind == "Approved", denied or kind == "Denied"
        if kind in seen:
            causes.append(
                ("FieldValueDuplicate", path + ".type", "Duplicate value: %s" % json.dumps(kind))
            )
        seen.add(kind)
    for kind in _TRUE_ONLY if old is not None else ():
        count = lambda cs, kind=kind: sum(1 for c in cs if c.get("type") == kind)  # noqa: E731
        if count(conditions) < count(old):
            causes.append(
                (
                    "FieldValueForbidden",
                    "status.conditions",
                    'Forbidden: updates may not remove a condition of type "%s"' % kind,
                )
            )
    return causes


def _with_timestamps(conditions: List[dict], old: List[dict], now: str) -> List[dict]:
    """populateConditionTimestamps: lastUpdateTime now when unset; lastTransitionTime kept from an
    old condition of the same type and status, else now."""
    out = []
    for c in conditions:
        c = {
            k: v for k, v in c.items() if v is not None
        }  # kubectl 1.27 sends "lastTransitionTime": null
        c.setdefault("lastUpdateTime", now)
        if not c.get("lastTransitionTime"):
            same = next(
                (
                    o.get("lastTransitionTime")
                    for o in old
                    if o.get("type") == c.get("type")
                    and o.get("status") == c.get("status")
                    and o.get("lastTransitionTime")
                ),
                None,
            )
            c["lastTransitionTime"] = same or now
        out.append(c)
    return out


def _signer_attributes(user: UserInfo, verb: str, name: str) -> Attributes:
    return Attributes(
        user=user,
        verb=verb,
        path="",
        resource_request=True,
        api_group=CERTIFICATES_GROUP,
        api_version="*",
        resource="signers",
        name=name,
    )


def authorized_for_signer(
    authorizer: "RBACAuthorizer", user: UserInfo, verb: str, signer_name: str
) -> bool:
    """certificates.IsAuthorizedForSignerName: VERB on signers/NAME, else on signers/DOMAIN/*."""
    if authorizer.authorize(_signer_attributes(user, verb, signer_name))[0]:
        return True
    return authorizer.authorize(_signer_attributes(user, verb, signer_name.split("/")[0] + "/*"))[0]


def csr_approval(
    server: "APIServer", rt: ResourceType, a: Attributes, body, content_type: str
) -> Tuple[int, dict]:
    """.../certificatesigningrequests/NAME/approval: csrApprovalStrategy (only the conditions change,
    timestamps filled in), its validation, then the CertificateApproval admission plugin ('approve'
    on signers/SIGNERNAME). RBAC on certificatesigningrequests/approval ran before this."""
    if a.verb not in ("get", "update", "patch"):
        raise method_not_allowed()
    with server.store.lock:
        old = server.store.get(rt, "", a.name)
        if a.verb == "get":
            return 200, old
        if a.verb == "patch":  # applied to the object as it is now, then an update of that version
            body = apply_patch(old, body, content_type)
            body.setdefault("metadata", {}).setdefault(
                "resourceVersion", old["metadata"]["resourceVersion"]
            )
        stored = _update_conditions(server, rt, a, body, old)
    server.run_csr_signer(
        a.name
    )  # the controller reacts at once: a kubectl get right after sees the cert
    return 200, stored


def _update_conditions(
    server: "APIServer", rt: ResourceType, a: Attributes, body, old: dict
) -> dict:
    if not isinstance(body, dict):
        raise APIError(400, "BadRequest", "the body of the request must be an object")
    if body.get("apiVersion") and (body.get("apiVersion"), body.get("kind")) != (
        rt.api_version,
        rt.kind,
    ):
        raise APIError(
            400,
            "BadRequest",
            "the API version in the data (%s) does not match the expected API "
            "version (%s)" % (body.get("apiVersion"), rt.api_version),
        )
    meta = body.get("metadata") or {}
    if meta.get("name") and meta["name"] != a.name:
        raise APIError(
            400,
            "BadRequest",
            "the name of the object (%s) does not match the name on the URL (%s)"
            % (meta["name"], a.name),
        )
    sent = (body.get("status") or {}).get("conditions") or []
    if not isinstance(sent, list) or not all(isinstance(c, dict) for c in sent):
        raise APIError(
            400,
            "BadRequest",
            'CertificateSigningRequest in version "v1" cannot be handled as a '
            "CertificateSigningRequest: status.conditions must be a list of objects",
        )
    old_conditions = (old.get("status") or {}).get("conditions") or []
    conditions = _with_timestamps(sent, old_conditions, _timestamp())
    causes = validate_csr_conditions(conditions, old_conditions)
    if causes:
        raise invalid(rt, a.name, causes)
    signer_name = (old.get("spec") or {}).get("signerName", "")
    if not authorized_for_signer(server.authorizer, a.user, "approve", signer_name):
        raise admission_forbidden(
            rt, a.name, 'user not permitted to approve requests with signerName "%s"' % signer_name
        )
    new = copy.deepcopy(old)
    new.setdefault("status", {})["conditions"] = conditions
    new["metadata"]["resourceVersion"] = (
        meta.get("resourceVersion") or old["metadata"]["resourceVersion"]
    )
    return server.store.replace(rt, "", a.name, new)
