"""`approve --watch`: keep approving as requests arrive, from one long-running
`kubectl get certificatesigningrequests --watch -o json --output-watch-events --request-timeout=0`
(a watch, not a busy loop: kubectl lists what is there, then the API server pushes each change).

Requests are decided in batches: those that arrive together (within the watch's quiet interval,
up to BATCH at a time) go to the cluster in one `kubectl replace`, so a burst of a hundred starts
two kubectl processes, not a hundred. A request is decided once per resourceVersion. Each
certificate issued for a self-renewal this tool approved is recorded in the ledger when the watch
shows it (before the person's `renew --self` picks it up and deletes the request). Sending a batch
and recording it are not torn apart by a signal; the caller stops the watch on SIGTERM or SIGINT
by closing the generator. When the watch ends by itself (the API server closed it), it starts again.
"""

import time

from .. import signals
from ..cluster.kubectl import failure
from ..output.approval_results import Approvals
from .approve import (
    BATCH,
    WATCH,
    _issued_by_our_approval,
    _named,
    decide_and_act,
    record_certificate,
)
from .self_renewal_policy import is_pending

RESTART_PAUSE = 1.0


def watch_approvals(*, kubectl, out_dir, dry_run="none", progress, sleep=time.sleep):
    """Yield an Approvals for each batch decided (and each renewal recorded), until closed."""
    decided = {}  # name: the resourceVersion decided
    while True:
        heard = False
        with kubectl.watch(WATCH) as events:
            pending, issued = {}, []
            for event in events:
                if event is not None:
                    heard = True
                    _take(event, decided, pending, issued)
                    if len(pending) < BATCH:
                        continue
                if pending or issued:
                    batch = _act(kubectl, out_dir, dry_run, pending, issued, decided, progress)
                    pending, issued = {}, []
                    if batch.outcomes or batch.recorded or batch.warnings:
                        yield batch
        answer = events.result
        if not heard and answer is not None and not answer.ok:
            raise failure("watch the certificate signing requests", answer.stderr)
        progress("The watch ended; watching again")
        sleep(RESTART_PAUSE)


def _take(event, decided, pending, issued):
    kind, obj = event.get("type"), event.get("object")
    if not isinstance(obj, dict):
        return
    name = _named(obj)
    version = (obj.get("metadata") or {}).get("resourceVersion")
    if kind == "DELETED":
        pending.pop(name, None)
    elif kind in ("ADDED", "MODIFIED"):
        if is_pending(obj):
            if decided.get(name) != version:
                pending[name] = obj
        elif _issued_by_our_approval(obj):
            pending.pop(name, None)
            issued.append(obj)


def _act(kubectl, out_dir, dry_run, pending, issued, decided, progress):
    with signals.critical():  # a batch sent is a batch reported, and recorded
        # Recorded first: a request filed again in the same batch, with the certificate the one
        # just issued replaces, is judged against the new one (the newest), so it is refused.
        recorded, warnings = [], []
        for obj in issued if dry_run == "none" else ():
            entry, warning = record_certificate(out_dir, obj, progress)
            recorded += [entry] if entry else []
            warnings += [warning] if warning else []
        outcomes, _ = decide_and_act(
            kubectl=kubectl,
            out_dir=out_dir,
            items=list(pending.values()),
            users=None,
            dry_run=dry_run,
            progress=progress,
        )
    for name, obj in pending.items():
        decided[name] = (obj.get("metadata") or {}).get("resourceVersion")
    return Approvals(tuple(outcomes), tuple(recorded), dry_run, tuple(warnings))
