"""`approve`: decide every pending CertificateSigningRequest (self_renewal_policy), tell the cluster
in batches, and record each renewal in the ledger once its certificate is issued.

kubectl runs a bounded number of times whatever the number of requests: one list (raw, so the
list's resourceVersion is kept), one
`kubectl replace --subresource=approval -f -` per batch of BATCH requests (each the request as
listed, its resourceVersion kept, with the Approved or Denied condition, reason and message
added: a request someone replaced after it was read is refused by the cluster with a conflict,
never approved unchecked), and one watch while the signer issues what was approved, from the
list's resourceVersion: a certificate the person took, and a request they deleted, before the watch
started are still seen issued (and recorded), so a renewal cannot slip past the ledger.
"""

import base64
import json
import re
import time
from datetime import datetime, timezone
from urllib.parse import quote

from ..cluster.kubectl import failure, last_error_line
from ..errors import UsercertError
from ..output.approval_results import ApprovalOutcome, Approvals, RecordedRenewal
from ..pki import openssl
from ..pki.signers.cluster_csr import CSR_RESOURCE
from ..store import ledger, locks
from ..store.ledger import LedgerEntry
from .self_renewal_policy import APPROVE_REASON, claims_self_renewal, is_pending, judge

BATCH = 50  # requests per kubectl replace
ISSUE_WAIT_SECONDS = 10.0  # how long a run waits for the signer to issue what it approved
WATCH = ["get", CSR_RESOURCE, "--watch", "-o", "json", "--output-watch-events"]
CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


def approve_pending(
    *,
    kubectl,
    out_dir,
    users=None,
    dry_run="none",
    progress,
    wait_seconds=ISSUE_WAIT_SECONDS,
    clock=time.monotonic,
):
    """Approve the good self-renewals, deny the bad ones, leave the rest; `users` (a set) narrows
    it to their requests (apply: the roster's users). An Approvals."""
    items, since = list_requests(kubectl, progress)
    outcomes, approved = decide_and_act(
        kubectl=kubectl,
        out_dir=out_dir,
        items=items,
        users=users,
        dry_run=dry_run,
        progress=progress,
    )
    recorded, warnings = (), []
    if dry_run == "none":
        recorded, warnings = record_issued(
            kubectl=kubectl,
            out_dir=out_dir,
            items=items,
            approved=approved,
            progress=progress,
            wait_seconds=wait_seconds,
            clock=clock,
            since=since,
        )
    return Approvals(tuple(outcomes), tuple(recorded), dry_run, tuple(warnings))


def list_requests(kubectl, progress):
    """(the requests, the list's resourceVersion): read raw, as `kubectl get -o json` drops the
    list's resourceVersion."""
    progress("Listing the certificate signing requests")
    what = "list the certificate signing requests"
    answer = kubectl.json(["get", "--raw", CSR_PATH], what)
    items = answer.get("items") or []
    if not isinstance(items, list):
        raise failure(what, "")
    since = (answer.get("metadata") or {}).get("resourceVersion")
    return [item for item in items if isinstance(item, dict)], since if isinstance(
        since, str
    ) else None


def decide_and_act(*, kubectl, out_dir, items, users, dry_run, progress):
    """(an ApprovalOutcome per pending request, {name: Decision} of those the cluster approved)."""
    latest, _ = ledger.latest(out_dir)
    now = datetime.now(timezone.utc)
    decisions = [judge(item, latest.get, now) for item in items if is_pending(item)]
    if users is not None:
        decisions = [d for d in decisions if d.user in users and d.action != "leave"]
    acting = [d for d in decisions if d.action in ("approve", "deny")]
    results = {}
    if dry_run != "client":
        for start in range(0, len(acting), BATCH):
            results.update(_send(kubectl, acting[start : start + BATCH], dry_run, progress))
    outcomes = [
        ApprovalOutcome(
            d.name,
            d.requester,
            d.action,
            d.user,
            d.reason,
            d.message,
            done=None if d.action == "leave" or dry_run != "none" else results[d.name] is None,
            error=results.get(d.name),
            notes=d.notes,
        )
        for d in decisions
    ]
    approved = {
        d.name: d for d in acting if d.action == "approve" and results.get(d.name, "") is None
    }
    return outcomes, approved


def _send(kubectl, decisions, dry_run, progress):
    """One kubectl replace for the batch: {name: None when the cluster took it, else why not}."""
    progress(
        f"{'Checking (server dry run)' if dry_run == 'server' else 'Sending'} "
        f"{len(decisions)} decision(s)"
    )
    document = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [_with_condition(d) for d in decisions],
    }
    server = ["--dry-run=server"] if dry_run == "server" else []
    answer = kubectl.run(
        ["replace", "--subresource=approval", *server, "-f", "-", "-o", "name"],
        text=json.dumps(document),
    )
    if not answer.ok and "invalid subresource" in answer.stderr:  # kubectl before 1.32
        return {d.name: _send_one(kubectl, d, server) for d in decisions}
    taken = {line.rsplit("/", 1)[-1] for line in answer.stdout.split()}
    return {d.name: None if d.name in taken else _why_not(d.name, answer.stderr) for d in decisions}


def _send_one(kubectl, decision, server):
    """kubectl before 1.32 knows no approval subresource for replace: the same PUT, one request at
    a time, with `kubectl replace --raw .../approval -f -` (the resourceVersion kept alike)."""
    path = (
        f"/apis/certificates.k8s.io/v1/certificatesigningrequests/{quote(decision.name)}/approval"
    )
    answer = kubectl.run(
        ["replace", "--raw", path + ("?dryRun=All" if server else ""), "-f", "-"],
        text=json.dumps(_with_condition(decision)),
    )
    return None if answer.ok else (last_error_line(answer.stderr) or "kubectl did not say")


def _with_condition(decision):
    obj = json.loads(json.dumps(decision.obj))  # a copy: the listed one stays as it was
    obj.setdefault("apiVersion", "certificates.k8s.io/v1")
    obj.setdefault("kind", "CertificateSigningRequest")
    status = obj.setdefault("status", {})
    conditions = status.get("conditions") if isinstance(status.get("conditions"), list) else []
    status["conditions"] = conditions + [
        {
            "type": "Approved" if decision.action == "approve" else "Denied",
            "status": "True",
            "reason": decision.reason,
            "message": decision.message,
        }
    ]
    return obj


def _why_not(name, stderr):
    quoted = f'"{name}"'
    for line in (stderr or "").splitlines():
        if quoted in line:
            return line.strip()
    return last_error_line(stderr) or "kubectl did not say"


def record_issued(*, kubectl, out_dir, items, approved, progress, wait_seconds, clock, since=None):
    """Record in the ledger each certificate issued for a self-renewal approved by this tool: any an
    earlier run approved whose certificate the ledger does not know yet, and those approved now, as
    one watch shows them issued (up to `wait_seconds`): pushed by the API server the moment the
    signer writes it. The watch starts from `since` (the list's resourceVersion), so it replays
    what happened since the list, a person who took the certificate and deleted the request at
    once included. (recorded, warnings)."""
    waiting = dict(approved)
    recorded, warnings = [], []

    def take(item):
        waiting.pop(_named(item), None)
        entry, warning = record_certificate(out_dir, item, progress)
        recorded.extend([entry] if entry else [])
        warnings.extend([warning] if warning else [])

    for item in items:
        if _issued_by_our_approval(item):
            take(item)
    if waiting and wait_seconds > 0:
        progress(f"Waiting for the signer to issue {len(waiting)} renewal(s)")
        deadline = clock() + wait_seconds
        replay = ["get", "--raw", f"{CSR_PATH}?watch=true&resourceVersion={quote(since)}"]
        with kubectl.watch(replay if since else WATCH) as events:
            for event in events:
                item = (event or {}).get("object")
                if isinstance(item, dict) and _named(item) in waiting:
                    if _issued_by_our_approval(item):
                        take(item)
                if not waiting or clock() >= deadline:
                    break
    warnings += [
        f"{name} was approved but not yet issued: the next approve run records its certificate"
        for name in waiting
    ]
    return recorded, warnings


def _named(item):
    return (item.get("metadata") or {}).get("name")


def _issued_by_our_approval(item):
    status = item.get("status") or {}
    conditions = status.get("conditions") or []
    ours = any(
        isinstance(c, dict) and c.get("type") == "Approved" and c.get("reason") == APPROVE_REASON
        for c in (conditions if isinstance(conditions, list) else [])
    )
    return ours and claims_self_renewal(item) and bool(status.get("certificate"))


def record_certificate(out_dir, item, progress):
    """(the RecordedRenewal, None), (None, a warning) or (None, None) when the ledger has it."""
    name = _named(item)
    try:
        pem = _one_certificate(item["status"]["certificate"])
        info = openssl.certificate_info(data=pem, what=f"the certificate of {name}")
    except (UsercertError, ValueError) as exc:
        return None, f"{name}: its certificate could not be read ({getattr(exc, 'message', exc)})"
    user = info.common_name
    with locks.user_operation(out_dir, user, progress):
        history = ledger.history(out_dir, user)
        if any(e.fingerprint_hex == info.fingerprint_hex for e in history):
            return None, None
        latest = history[-1] if history else None
        if latest is None or latest.event == "revoked" or not latest.self_renew:
            return None, f"{name}: issued for {user}, who may no longer renew; not recorded"
        if sorted(info.organizations) != sorted(latest.groups):
            return None, f"{name}: its certificate is not for the groups of {user}; not recorded"
        ledger.append(
            out_dir,
            LedgerEntry.of_certificate(
                "renewed",
                user,
                info,
                signer="csr",
                approval="self",
                cluster=latest.cluster,
                server=latest.server,
                path=latest.path,
                lifetime=latest.lifetime,
                previous_serial=latest.serial,
                key_held_by="owner",
                self_renew=True,
            ),
        )
    progress(f"Recorded the renewal of {user} (serial {info.serial})")
    return RecordedRenewal(
        name,
        user,
        info.organizations,
        info.serial,
        info.fingerprint_sha256,
        info.not_after,
        latest.serial,
    ), None


def _one_certificate(encoded):
    text = base64.b64decode(encoded, validate=True).decode("ascii")
    blocks = re.findall(
        r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----", text
    )
    if len(blocks) != 1:
        raise ValueError(f"{len(blocks)} certificates, not one")
    return (blocks[0] + "\n").encode("ascii")
