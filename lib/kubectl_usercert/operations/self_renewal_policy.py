"""Which pending CertificateSigningRequests `approve` approves, denies or leaves alone: the checks
that make a request a self-renewal of a credential this tool issued, as kube-controller-manager's
csrapproving controller checks a kubelet's (requester = subject, the subject exactly as before, no
SANs, client usages only), and more, from the ledger (the newest record of the user is the truth).

A request claims to be a self-renewal when it carries the self-renewal label or the name prefix
`renew --self` uses. Such a claim is approved only when every check holds, and denied (with a
reason and a message) when one fails: alice asking for CN=bob, or for one more group, is told so
rather than left to wait. Anything else is left alone for a person to decide.
"""

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Optional, Tuple

from ..errors import InvalidInput
from ..pki.certificate import credential_id
from ..pki.keys import acceptable_request_key
from ..pki.request_der import SUBJECT_ALT_NAME, read_request
from ..pki.signers.cluster_csr import SELF_RENEWAL, SIGNER_NAME, self_renewal_name
from ..times import human_duration

CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
APPROVE_REASON = "UsercertSelfRenewal"
RENEWAL_PREFIX = "usercert-renew-"
CLIENT_USAGES = {"client auth", "digital signature"}


@dataclass(frozen=True, eq=False, repr=False)
class Decision:
    """What approve makes of one request: action approve, deny or leave; for a deny, the reason
    (a CamelCase word, as kube's) and the message of the Denied condition; for an approval, the
    ledger record it renews."""

    name: str
    requester: str
    action: str
    user: Optional[str] = None  # the subject's CN, when it has one
    reason: str = ""
    message: str = ""
    renews: object = None  # the LedgerEntry (newest of the user) an approval renews
    notes: Tuple[str, ...] = ()
    obj: dict = field(default_factory=dict)  # the request as listed (its resourceVersion kept)


def is_pending(obj):
    conditions = (obj.get("status") or {}).get("conditions") or []
    return not any(
        isinstance(c, dict) and c.get("type") in ("Approved", "Denied", "Failed")
        for c in (conditions if isinstance(conditions, list) else [])
    )


def claims_self_renewal(obj):
    metadata = obj.get("metadata") or {}
    labels = metadata.get("labels") or {}
    purpose = next(iter(SELF_RENEWAL))
    return labels.get(purpose) == SELF_RENEWAL[purpose] or str(metadata.get("name", "")).startswith(
        RENEWAL_PREFIX
    )


def judge(obj, latest_of, now=None):
    """The Decision for one pending request of any signer; `latest_of(user)`: the user's newest
    ledger record, or None."""
    now = now or datetime.now(timezone.utc)
    metadata, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    name, requester = str(metadata.get("name", "")), str(spec.get("username", ""))
    if spec.get("signerName") != SIGNER_NAME or not claims_self_renewal(obj):
        return Decision(
            name,
            requester,
            "leave",
            reason="NotASelfRenewal",
            message="not a self-renewal: left for a person to decide",
            obj=obj,
        )
    try:
        facts = read_request(base64.b64decode(spec.get("request") or "", validate=True))
    except (ValueError, TypeError):
        return _deny(obj, name, requester, None, "RequestUnreadable", "the request is not a CSR")
    common_names = facts.common_names
    if len(common_names) != 1:
        return _deny(obj, name, requester, None, "SubjectNotAUser", "the subject must hold one CN")
    user = common_names[0]
    deny = lambda reason, message: _deny(obj, name, requester, user, reason, message)  # noqa: E731
    if requester != user:
        return deny(
            "RequesterIsNotSubject",
            f"filed by {requester or '(nobody)'}, asks for CN={user}: only {user} renews {user}",
        )
    if name != self_renewal_name(user):
        return deny(
            "NotTheRenewalName",
            f"a self-renewal of {user} is named {self_renewal_name(user)}",
        )
    latest = latest_of(user)
    if latest is None:
        return deny("UnknownUser", f"no credential of {user} in the ledger: nothing to renew")
    if latest.event == "revoked":
        return deny("UserRevoked", f"{user} was revoked on {latest.time:%Y-%m-%d %H:%M}Z")
    if latest.self_renew is not True:
        return deny(
            "SelfRenewalNotGranted",
            f"{user} is not allowed to renew themselves (create or sign --self-renew grants it)",
        )
    problem = _subject_problem(facts, latest, spec) or _request_problem(facts, spec, latest)
    if problem:
        return deny(*problem)
    problem, notes = _credential_problem(spec, latest, now)
    if problem:
        return deny(*problem)
    seconds = spec["expirationSeconds"]
    message = (
        f"kubectl-usercert: self-renewal of {user} in groups "
        f"{','.join(facts.organizations) or '(none)'} for {human_duration_seconds(seconds)}, "
        f"filed with {_filed_with(spec) or 'a certificate the cluster does not name'}"
    )
    return Decision(
        name,
        requester,
        "approve",
        user,
        APPROVE_REASON,
        message,
        renews=latest,
        notes=notes,
        obj=obj,
    )


def _deny(obj, name, requester, user, reason, message):
    return Decision(name, requester, "deny", user, reason, message, obj=obj)


def human_duration_seconds(seconds):
    return human_duration(timedelta(seconds=seconds))


def _subject_problem(facts, latest, spec):
    if facts.other_attributes:
        return (
            "SubjectAttributes",
            f"the subject holds {', '.join(facts.other_attributes)}: only CN and O are renewed",
        )
    asked, recorded = sorted(facts.organizations), sorted(latest.groups)
    if asked != recorded:
        added = sorted(set(asked) - set(recorded)) or (
            ["a group twice"] if len(asked) > len(set(asked)) else []
        )
        missing = sorted(set(recorded) - set(asked))
        said = "; ".join(
            part
            for part in (
                f"adds {', '.join(added)}" if added else "",
                f"drops {', '.join(missing)}" if missing else "",
            )
            if part
        )
        return (
            "GroupsDiffer",
            f"the groups of {latest.user} are {','.join(latest.groups) or '(none)'}; the request "
            f"{said}: no group changes through renewal",
        )
    groups = spec.get("groups")
    held = {g for g in groups if isinstance(g, str)} if isinstance(groups, list) else set()
    if not set(asked) <= held:
        return (
            "GroupsNotHeld",
            f"the requester is not in {', '.join(sorted(set(asked) - held))}",
        )
    return None


def _request_problem(facts, spec, latest):
    if SUBJECT_ALT_NAME in facts.extensions:
        return "SubjectAltNames", "the request asks for subject alternative names"
    try:
        acceptable_request_key(facts.key_type, facts.key_bits)
    except InvalidInput as refused:
        return "KeyNotAccepted", f"{refused.message}: {refused.hint}"
    usages = spec.get("usages") or []
    allowed = CLIENT_USAGES | ({"key encipherment"} if facts.key_type == "RSA" else set())
    if (
        not isinstance(usages, list)
        or len(set(usages)) != len(usages)
        or not (CLIENT_USAGES <= set(usages) <= allowed)
    ):
        return (
            "Usages",
            f"usages {', '.join(map(str, usages))}: a renewal asks for client auth and digital "
            "signature" + (" (and key encipherment)" if facts.key_type == "RSA" else ""),
        )
    seconds = spec.get("expirationSeconds")
    lifetime = latest.asked_lifetime()
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        return (
            "ExpirationMissing",
            "the request sets no expirationSeconds: a renewal asks for its recorded lifetime",
        )
    if lifetime is None:
        return (
            "ExpirationTooLong",
            f"the ledger records no lifetime for {latest.user}: nothing bounds a renewal's",
        )
    if seconds > lifetime.total_seconds():
        return (
            "ExpirationTooLong",
            f"expirationSeconds {seconds} is longer than the lifetime of {latest.user}'s "
            f"certificate ({human_duration(lifetime)}, {int(lifetime.total_seconds())}s)",
        )
    return None


def _filed_with(spec):
    ids = (spec.get("extra") or {}).get(CREDENTIAL_ID)
    return ids[0] if isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], str) else None


def _credential_problem(spec, latest, now):
    """(problem, notes): the certificate that filed it must be the user's latest, valid now."""
    if latest.not_after is not None and latest.not_after <= now:
        return (
            "LatestCertificateExpired",
            f"the latest certificate of {latest.user} expired on {latest.not_after:%Y-%m-%d %H:%M}Z",
        ), ()
    if CREDENTIAL_ID not in (spec.get("extra") or {}):
        return None, (
            "the cluster does not say which certificate filed the request (credential ids came "
            "with Kubernetes 1.32): an older certificate of the same user cannot be told apart",
        )
    filed_with = _filed_with(spec)
    if not latest.fingerprint_sha256 or filed_with != credential_id(latest.fingerprint_sha256):
        return (
            "NotTheLatestCertificate",
            f"filed with {filed_with or 'an unnamed credential'}, not the latest certificate of "
            f"{latest.user} (serial {latest.serial}): only the latest renews",
        ), ()
    return None, ()
