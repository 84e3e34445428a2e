"""Who the live cluster thinks a credential is, compared with what its certificate says.

`kubectl auth whoami` (SelfSubjectReview) runs with the user's own kubeconfig. A cluster without
that API still shows whether it accepts the credential at all (discovery needs authentication),
and the result says what could not be checked. Used by verify and create --verify.
"""

from ..errors import UsercertError
from ..output.results import Verification
from ..pki.subject import group_list
from .kubectl import failure, kind_of

AUTHENTICATED = "system:authenticated"
REJECTED_HINT = (
    "the cluster does not trust the CA that signed this certificate, or the certificate is not valid "
    "now; on k3s/rke2 client certificates must be signed with client-ca.crt/client-ca.key, not the "
    "server CA"
)
_UNREACHABLE_HINTS = {
    "failed": "check that the server in the kubeconfig is reachable from here (and --timeout)"
}


def ask(kubectl, expected_user, expected_groups):
    """Ask the cluster with `kubectl` (bound to the user's own kubeconfig) and compare."""
    expected = dict(
        kubeconfig=kubectl.kubeconfig,
        expected_user=expected_user or "",
        expected_groups=tuple(expected_groups),
    )
    answer = kubectl.run(["auth", "whoami", "-o", "json"])
    if answer.ok:
        return _compare(expected, answer)
    if kind_of(answer.stderr) == "unauthorized":
        return _rejected(expected, "SelfSubjectReview")
    # kubectl turns a 403 into "...or you do not have permission to call it": authenticated, but RBAC
    # keeps SelfSubjectReview from this user.
    if (
        "you do not have permission" in (answer.stderr or "")
        or kind_of(answer.stderr) == "forbidden"
    ):
        return _by_discovery(expected, kubectl, "RBAC forbids this user SelfSubjectReview")
    if _no_self_subject_review(answer.stderr):
        return _by_discovery(
            expected, kubectl, "this cluster has no SelfSubjectReview API (Kubernetes < 1.28)"
        )
    raise failure("ask the cluster who this credential is", answer.stderr, _UNREACHABLE_HINTS)


def _compare(expected, answer):
    try:
        user_info = answer.json_object()["status"]["userInfo"]
        reported_user = user_info.get("username")
        reported_groups = tuple(user_info.get("groups") or ())
    except (KeyError, TypeError, AttributeError):
        raise UsercertError(
            "kubectl auth whoami gave an answer this tool cannot read",
            details=answer.stdout.strip()[:200] or "(empty)",
        ) from None
    problems = []
    if reported_user != expected["expected_user"]:
        problems.append(
            f"the cluster sees user {reported_user!r}, the certificate says "
            f"{expected['expected_user']!r} (an authenticating proxy or webhook may rewrite it)"
        )
    missing = [g for g in expected["expected_groups"] if g not in reported_groups]
    extra = [
        g for g in reported_groups if g not in expected["expected_groups"] and g != AUTHENTICATED
    ]
    if missing:
        problems.append(
            f"groups in the certificate but not seen by the cluster: {group_list(missing, ', ')}"
        )
    if extra:
        problems.append(
            f"groups the cluster adds that the certificate does not hold: {group_list(map(str, extra), ', ')}"
        )
    return Verification(
        **expected,
        accepted=True,
        method="SelfSubjectReview",
        reported_user=reported_user,
        reported_groups=reported_groups,
        problems=tuple(problems),
    )


def _rejected(expected, method):
    return Verification(
        **expected,
        accepted=False,
        method=method,
        problems=("the cluster rejected the certificate (401 Unauthorized): " + REJECTED_HINT,),
    )


def _no_self_subject_review(stderr):
    # kubectl says "the selfsubjectreviews API is not enabled in the cluster ... enable APISelfSubjectReview".
    text = stderr or ""
    return "APISelfSubjectReview" in text or "unknown command" in text or kind_of(text) == "missing"


def _by_discovery(expected, kubectl, why):
    answer = kubectl.run(["get", "--raw", "/api"])
    # Forbidden still means authenticated: only RBAC said no.
    if answer.ok or kind_of(answer.stderr) == "forbidden":
        return Verification(
            **expected,
            accepted=True,
            method="discovery",
            notes=(
                f"{why}: the credential is accepted, but the user and groups the cluster sees could not be checked",
            ),
        )
    if kind_of(answer.stderr) == "unauthorized":
        return _rejected(expected, "discovery")
    raise failure("ask the cluster who this credential is", answer.stderr, _UNREACHABLE_HINTS)


def can_i(kubectl, verb, resource, name=None):
    """Whether the cluster lets kubectl's user do `verb` on `resource` (`name`: one object), by
    `kubectl auth can-i` (a SelfSubjectAccessReview); None when the cluster could not tell."""
    target = f"{resource}/{name}" if name else resource
    answer = kubectl.run(["auth", "can-i", verb, target])
    said = answer.stdout.strip().lower()
    if said.startswith("yes"):
        return True
    if said.startswith("no"):
        return False
    if kind_of(answer.stderr) == "unauthorized":
        raise failure("ask the cluster what you may do", answer.stderr)
    return None
