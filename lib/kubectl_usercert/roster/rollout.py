"""Carrying out apply's plan, user by user, several at a time.

What all users share is made once: the CA read and checked once (and only if something is signed
with it), the cluster the kubeconfigs point at resolved once, the roles checked once for the
whole roster. Each user's work is the same code as create, renew and revoke (the operations:
issue_user, renew_user, revoke_user), under that user's lock; the ledger takes lines from every worker safely. A user that
fails (a refused name, a denied request, a missing role) is reported and does not stop the others.
A dry run is the same walk, each step's checks made and nothing changed (_REHEARSALS).
"""

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

from .. import signals
from ..cluster import rbac
from ..cluster.kubectl import summary
from ..cluster.rbac import BindingPlan
from ..errors import Interrupted, InvalidInput, UsercertError
from ..operations.fleet_revoke import revoke_person
from ..operations.issue import checked_subject, endpoint, issue_user
from ..operations.renew import renew_user
from ..operations.revoke import revoke_user
from ..output.results import AppliedUser
from ..pki.subject import make_subject
from ..store.files import write_error


class Shared:
    """What every user's work shares, made once and only when needed (threads may ask at once)."""

    def __init__(self, request, signers, reachable):
        self.request, self.signers = (
            request,
            signers,
        )  # signers: a SignerChooser for the run's options
        self.kubectl = request.signing.kubectl
        self.reachable = reachable  # a kubeconfig to reach the cluster exists
        self._lock = threading.Lock()
        self._endpoint = None

    def signer_for(self, user, subject, step, kind=None, approve=None):
        """The run's signer if it names one, else the roster's for this user (or `kind`)."""
        kind = kind or (None if self.request.signer_given else user.signer)
        return self.signers.choose(subject, kind, progress=step, sleep=_sleep, approve=approve)

    def renewal_signer(self, user, entry, subject, step):
        """How a renewal signs: as this run or the roster says; else as the ledger says the certificate
        was signed (the CSR API, or the CA in use here, read once; None lets renew find the recorded
        CA files); a CA found here that is not the recorded one is the plan's move to it. A request
        this tool approved (--approve) is approved again."""
        signing = self.request.signing
        approve = entry is not None and entry.approval == "self"
        named = (
            self.request.signer_given or signing.ca_cert or signing.ca_key or user.signer != "auto"
        )
        if named or entry is None or entry.signer is None:
            return self.signer_for(user, subject, step, approve=approve)
        if entry.signer == "csr":
            return self.signer_for(user, subject, step, kind="csr", approve=approve)
        return self.signer_for(user, subject, step, kind="local") if self.signers.located else None

    def endpoint(self, signer):
        """The cluster for new kubeconfigs, and the warnings that come with it (resolved once)."""
        with self._lock:
            if self._endpoint is None:
                warnings = []
                self._endpoint = (
                    endpoint(self.kubectl, self.request.server, signer, warnings),
                    warnings,
                )
            return self._endpoint


def _sleep(seconds):
    signals.pause(seconds)  # a signal stops a CSR wait at once


def carry_out(items, shared, request, tracker):
    """AppliedUser for every item, the changes made `request.jobs` at a time; with a dry run, every
    check the work makes before it changes anything, and nothing changed."""
    rehearsal = request.dry_run != "none"
    with signals.cooperative():  # a signal stops the checks and the work alike, at their next step
        blocked = _preflight(items, shared, request.jobs)
        with ThreadPoolExecutor(max_workers=max(1, request.jobs)) as pool:
            done = signals.results(
                [
                    pool.submit(
                        _one, item, shared, request, tracker, blocked.get(item.user), rehearsal
                    )
                    for item in items
                ]
            )
    if signals.cancelled():
        raise Interrupted(signals.cancelled())
    return done


def _preflight(items, shared, jobs):
    """{user: why their bindings cannot be made}: every namespace and role checked once, then every
    binding name (several at a time), before anything is issued."""
    checked, blocked, named = {}, {}, []

    def problem(key, check):
        if key not in checked:
            checked[key] = _problem(check)
        return checked[key]

    for item in items:
        if "rebind" not in item.actions or signals.cancelled():
            continue
        created = {m["metadata"]["name"] for m in item.add if not m["kind"].endswith("Binding")}
        creates_role = rbac.READ_ONLY_ROLE in created
        for manifest in (m for m in item.add if m["kind"].endswith("Binding")):
            ref, namespace = manifest["roleRef"], manifest["metadata"].get("namespace")
            if ref["name"] in created - {rbac.READ_ONLY_ROLE}:  # made with it (self-renew)
                named.append((item.user, manifest))
                continue
            role = rbac.RoleRef(ref["kind"], ref["name"], namespace)
            found = (
                namespace
                and problem(
                    ("namespace", namespace),
                    functools.partial(rbac.check_namespace_exists, shared.kubectl, namespace),
                )
            ) or problem(
                role,
                functools.partial(
                    rbac.check_roles_exist,
                    shared.kubectl,
                    BindingPlan([role], create_read_only_role=creates_role),
                ),
            )
            if found:
                blocked.setdefault(item.user, found)
            else:
                named.append((item.user, manifest))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        taken = signals.results(
            [
                pool.submit(
                    lambda pair: (
                        None
                        if signals.cancelled()
                        else _problem(lambda: rbac.check_names_free(shared.kubectl, [pair[1]]))
                    ),
                    pair,
                )
                for pair in named
            ]
        )
        for (user, _manifest), found in zip(named, taken):
            if found:
                blocked.setdefault(user, found)
    return blocked


def _problem(check):
    try:
        check()
    except UsercertError as exc:
        return exc.message
    return None


def _one(item, shared, request, tracker, blocked, rehearsal=False):
    if not item.changes:
        if "refused" in item.actions:
            tracker.done(item.user, False)
            return _applied(item, "failed", item.reasons[0])
        return _applied(
            item,
            "planned" if rehearsal else "reported" if "unlisted" in item.actions else "unchanged",
        )

    def step(message):
        signals.check()
        tracker.step(item.user, message)

    if signals.cancelled():  # a signal stops the users not yet started
        return _applied(item, "failed", "interrupted before it started")
    notes = list(item.notes)
    try:
        if blocked:
            raise InvalidInput(blocked)
        for action in item.actions:
            notes += (_REHEARSALS if rehearsal else _ACTIONS)[action](
                item, shared, request, step
            ) or ()
    except UsercertError as exc:
        tracker.done(item.user, False)
        return _applied(item, "failed", summary(exc))
    except OSError as exc:  # one user's unforeseen file error must not lose the others' results
        tracker.done(item.user, False)
        return _applied(item, "failed", write_error(exc.filename or "a file", exc).message)
    except Interrupted:
        tracker.done(item.user, False)
        return _applied(item, "failed", "interrupted")
    tracker.done(item.user, True)
    return _applied(item, "planned" if rehearsal else "done", notes=notes)


def _applied(item, outcome, error=None, notes=None):
    return AppliedUser(
        item.user,
        item.actions,
        item.reasons,
        tuple(item.notes if notes is None else notes),
        outcome,
        error,
    )


def _create(item, shared, request, step, rehearsal=False):
    user = item.wanted
    subject, warnings = checked_subject(
        user.name, user.groups, key=user.key, allow_system_masters=request.allow_system_masters
    )
    signer = shared.signer_for(user, subject, step)
    found, endpoint_warnings = shared.endpoint(signer)
    if rehearsal:
        return _rehearse_signing(
            signer, subject, user.key, signer.grant(user.validity), request, step
        )
    manifests = list(item.add)
    issue_user(
        subject=subject,
        signer=signer,
        endpoint=found,
        out_dir=request.out_dir,
        lifetime=user.validity,
        key=user.key,
        namespace=user.namespace,
        warnings=warnings + endpoint_warnings,
        bindings=manifests,
        self_renew=user.self_renew,
        progress=step,
    )


def _renew(item, shared, request, step, rehearsal=False):
    user = item.wanted
    subject = make_subject(user.name, user.groups)
    signer = shared.renewal_signer(user, item.holding.entry, subject, step)
    done = renew_user(
        user=user.name,
        out_dir=request.out_dir,
        signing=request.signing,
        groups=subject.groups,
        lifetime=user.validity,
        rekey=item.rekey,
        key_type=user.key.type,
        key_size=user.key.size,
        allow_system_masters=request.allow_system_masters,
        signer_given=signer is not None,
        signer=signer,
        rehearse=rehearsal,
        self_renew=user.self_renew,
        progress=step,
    )
    if rehearsal:
        return _rehearse_signing(
            *done, request, step
        )  # (renew's signer, subject, key and validity)


def _rebind(item, shared, request, step, rehearsal=False):
    dry_run = (
        request.dry_run if rehearsal else "none"
    )  # (client: the preflight checked what it can)
    if item.add and dry_run != "client":
        step("Applying the RBAC bindings" + (" (server dry run)" if rehearsal else ""))
        rbac.apply(shared.kubectl, list(item.add), dry_run=dry_run)
    for binding in item.remove if dry_run != "client" else ():
        step(f"Deleting {binding.ref}" + (" (server dry run)" if rehearsal else ""))
        rbac.delete(shared.kubectl, binding, dry_run=dry_run)


def _prune(item, shared, request, step, rehearsal=False):
    """Revoked as `revoke` does. With no kubeconfig at all (bindings off for this run) the bindings are
    a note, not a failure: a later apply would not see the user again to retry. A fleet person is
    revoked on each of their clusters."""
    if item.holding is not None and item.holding.clusters is not None:
        done = revoke_person(
            user=item.user,
            out_dir=request.out_dir,
            kubectl=shared.kubectl,
            dry_run=request.dry_run if rehearsal else "none",
            progress=step,
        )
        left = [f"{cluster}: {'; '.join(r.remaining)}" for cluster, _, r in done if r.remaining]
        if left:
            raise UsercertError("revoked here, but " + "; ".join(left))
        return []
    result = revoke_user(
        user=item.user,
        out_dir=request.out_dir,
        kubectl=shared.kubectl,
        dry_run=request.dry_run if rehearsal else "none",
        progress=step,
    )
    if result.remaining and shared.reachable:
        raise UsercertError(
            ("would be revoked here, but " if rehearsal else "revoked here, but ")
            + "; ".join(result.remaining)
        )
    return (
        [
            f"no kubeconfig: remove any bindings of {item.user} with 'kubectl usercert revoke {item.user}' "
            "and --kubeconfig"
        ]
        if result.remaining
        else []
    )


def _rehearse_signing(signer, subject, spec, validity, request, step):
    """With --dry-run=server, the cluster asked whether it would take the signing request (the CSR API;
    a local CA asks nothing of it)."""
    if request.dry_run == "server":
        signer.rehearse(subject, spec, validity, step)


_ACTIONS = {
    "create": _create,
    "reissue": _renew,
    "renew": _renew,
    "rebind": _rebind,
    "prune": _prune,
}
_REHEARSALS = {action: functools.partial(work, rehearsal=True) for action, work in _ACTIONS.items()}
