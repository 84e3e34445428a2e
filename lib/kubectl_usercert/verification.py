"""`verify`: ask the live cluster who it thinks the credential is, and compare with the certificate.

`kubectl auth whoami` (SelfSubjectReview) runs with the user's own kubeconfig. A cluster without
that API still shows whether it accepts the credential at all (discovery needs authentication),
and the result says what could not be checked.
"""

import json
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from . import kubectl as kubectl_module
from .errors import InvalidInput, UsercertError
from .inspection import inspect

AUTHENTICATED = "system:authenticated"


@dataclass
class Verification:
    kubeconfig: str
    expected_user: str
    expected_groups: Tuple[str, ...]
    accepted: bool
    method: str  # "SelfSubjectReview" or "discovery"
    reported_user: Optional[str] = None
    reported_groups: Tuple[str, ...] = ()
    problems: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    @property
    def ok(self):
        return self.accepted and not self.problems

    def as_record(self):
        return {"kubeconfig": self.kubeconfig, "ok": self.ok, "accepted": self.accepted, "method": self.method,
                "expected": {"user": self.expected_user, "groups": list(self.expected_groups)},
                "reported": {"user": self.reported_user, "groups": list(self.reported_groups)}
                if self.reported_user is not None else None,
                "problems": list(self.problems), "notes": list(self.notes)}


REJECTED_HINT = ("the cluster does not trust the CA that signed this certificate, or the certificate is not valid "
                 "now; on k3s/rke2 client certificates must be signed with client-ca.crt/client-ca.key, not the "
                 "server CA")


def verify(target, out_dir="clients", timeout=30.0):
    """Verify the credential of a user in out_dir (or a kubeconfig file) against its cluster."""
    inspection = inspect(target, out_dir)
    if not inspection.kubeconfig:
        raise InvalidInput(f"{target} has no kubeconfig to verify with", hint="give a user name or a kubeconfig")
    result = Verification(inspection.kubeconfig, inspection.user or "", inspection.groups, accepted=False,
                          method="SelfSubjectReview")
    client = kubectl_module.Kubectl(kubeconfig=inspection.kubeconfig, timeout=timeout)
    answer = client.run(["auth", "whoami", "-o", "json"])
    if answer.ok:
        _compare(result, answer.stdout)
    elif kubectl_module.is_unauthorized(answer.stderr):
        result.problems.append("the cluster rejected the certificate (401 Unauthorized): " + REJECTED_HINT)
    elif _no_self_subject_review(answer.stderr):
        _fall_back_to_discovery(result, client)
    else:
        raise _unreachable(answer)
    return result


def _compare(result, stdout):
    result.accepted = True
    try:
        user_info = json.loads(stdout)["status"]["userInfo"]
    except (ValueError, KeyError, TypeError):
        raise UsercertError("kubectl auth whoami gave an answer this tool cannot read",
                            details=stdout[:200]) from None
    result.reported_user = user_info.get("username")
    result.reported_groups = tuple(user_info.get("groups") or ())
    if result.reported_user != result.expected_user:
        result.problems.append(f"the cluster sees user {result.reported_user!r}, the certificate says "
                               f"{result.expected_user!r} (an authenticating proxy or webhook may rewrite it)")
    missing = [g for g in result.expected_groups if g not in result.reported_groups]
    extra = [g for g in result.reported_groups if g not in result.expected_groups and g != AUTHENTICATED]
    if missing:
        result.problems.append(f"groups in the certificate but not seen by the cluster: {', '.join(missing)}")
    if extra:
        result.problems.append(f"groups the cluster adds that the certificate does not hold: {', '.join(extra)}")


def _no_self_subject_review(stderr):
    # kubectl says "the selfsubjectreviews API is not enabled in the cluster ... enable APISelfSubjectReview".
    text = stderr or ""
    return "APISelfSubjectReview" in text or "unknown command" in text or kubectl_module.is_missing_api(text)


def _fall_back_to_discovery(result, client):
    result.method = "discovery"
    answer = client.run(["get", "--raw", "/api"])
    # Forbidden still means authenticated: only RBAC said no.
    if answer.ok or "Forbidden" in answer.stderr:
        result.accepted = True
        result.notes.append("this cluster has no SelfSubjectReview API (Kubernetes < 1.28): the credential is "
                            "accepted, but the user and groups the cluster sees could not be checked")
    elif kubectl_module.is_unauthorized(answer.stderr):
        result.problems.append("the cluster rejected the certificate (401 Unauthorized): " + REJECTED_HINT)
    else:
        raise _unreachable(answer)


def _unreachable(answer):
    return UsercertError("could not ask the cluster", details=kubectl_module.last_error_line(answer.stderr),
                         hint="check that the server in the kubeconfig is reachable from here (and --timeout)")
