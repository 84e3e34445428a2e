"""Carrying out a fleet roster's plan (fleet_plan.py), person by person, several at a time.

Each person's work is the operations' (issue_person, renew_person, revoke_person), under that
person's lock, all of their clusters together: their clusters no longer wanted are revoked first
(--prune), then their certificates issued, renewed or added (every cluster checked before anything
is made, all or nothing), then the bindings changed on each cluster (after every certificate is in
hand). A person that fails is reported on each of their lines, and does not stop the others. A dry
run makes the checks the work makes first (with server, each cluster asked with dryRun=All), and
changes nothing.
"""

from concurrent.futures import ThreadPoolExecutor

from .. import signals
from ..cluster import rbac
from ..cluster.kubectl import summary
from ..errors import Interrupted, UsercertError
from ..operations import fleet as fleet_ops
from ..operations import fleet_members
from ..operations.fleet_renew import renew_person
from ..operations.fleet_revoke import revoke_person
from ..operations.issue import checked_subject
from ..operations.revoke import revoke_user
from ..output.results import AppliedUser
from ..store.files import write_error
from .plan import access_of


def carry_out(persons, shared, request, tracker):
    """AppliedUser lines (a line per person and cluster) for every person, `request.jobs` at a time."""
    rehearsal = request.dry_run != "none"
    with signals.cooperative():
        with ThreadPoolExecutor(max_workers=max(1, request.jobs)) as pool:
            done = signals.results(
                [
                    pool.submit(_one, person, shared, request, tracker, rehearsal)
                    for person in persons
                ]
            )
    if signals.cancelled():
        raise Interrupted(signals.cancelled())
    return [line for lines in done for line in lines]


def _one(person, shared, request, tracker, rehearsal):
    if person.refused:
        tracker.done(person.user, False)
        return _lines(person, "failed", person.refused)
    if not person.changes:
        unlisted = all("unlisted" in row.actions for row in person.rows)
        return _lines(person, "planned" if rehearsal else "reported" if unlisted else "unchanged")
    if signals.cancelled():
        return _lines(person, "failed", "interrupted before it started")

    def step(message):
        signals.check()
        tracker.step(person.user, message)

    try:
        (_rehearse if rehearsal else _work)(person, shared, request, step)
    except UsercertError as exc:
        tracker.done(person.user, False)
        return _lines(person, "failed", summary(exc))
    except OSError as exc:
        tracker.done(person.user, False)
        return _lines(person, "failed", write_error(exc.filename or "a file", exc).message)
    except Interrupted:
        tracker.done(person.user, False)
        return _lines(person, "failed", "interrupted")
    tracker.done(person.user, True)
    return _lines(person, "planned" if rehearsal else "done")


def _lines(person, outcome, error=None):
    """A line per cluster of the person, each with the person's outcome (their work is one)."""
    return [
        AppliedUser(
            person.user,
            tuple(row.actions) or ("unchanged",),
            tuple(row.reasons),
            tuple(row.notes),
            "unchanged" if outcome == "done" and not row.actions else outcome,
            error,
            cluster=row.cluster,
        )
        for row in person.rows
    ]


def _work(person, shared, request, step):
    user = person.wanted
    if person.prune_whole:
        revoke_user(
            user=person.user, out_dir=request.out_dir, kubectl=shared.kubectl, progress=step
        )
    if person.prune:
        _revoke(person, shared, request, step)
    if person.create or person.add or person.renew:
        subject, _ = checked_subject(
            user.name, user.groups, key=user.key, allow_system_masters=request.allow_system_masters
        )
        _check_bindings(person, shared, step)
        if person.create:
            members = shared.members(user, subject, person.create, step)
            fleet_members.check_members(user=user.name, members=members, progress=step)
            fleet_ops.issue_person(
                subject=subject,
                members=members,
                out_dir=request.out_dir,
                lifetime=user.validity,
                key=user.key,
                namespace=user.namespace,
                force=person.force,
                progress=step,
            )
        else:
            added = tuple(shared.members(user, subject, person.add, step))
            _renew(person, user, subject, shared, request, step, add=added)
    else:
        _check_bindings(person, shared, step)
    _rebind(person, shared, step, "none")


def _renew(person, user, subject, shared, request, step, **how):
    """renew_person for the clusters the plan renews the person on (how: add, or rehearse)."""
    return renew_person(
        user=user.name,
        out_dir=request.out_dir,
        signing=shared.signing,
        contexts=tuple(person.renew),
        groups=subject.groups,
        lifetime=user.validity,
        rekey=person.rekey,
        key_type=user.key.type,
        key_size=user.key.size,
        allow_system_masters=request.allow_system_masters,
        signer_given=shared.signer_given,
        progress=step,
        **how,
    )


def _revoke(person, shared, request, step, dry_run="none"):
    done = revoke_person(
        user=person.user,
        out_dir=request.out_dir,
        kubectl=shared.kubectl,
        contexts=tuple(person.prune),
        dry_run=dry_run,
        progress=step,
    )
    left = [
        f"{cluster}: {'; '.join(result.remaining)}"
        for cluster, _, result in done
        if result.remaining
    ]
    if left:
        raise UsercertError(
            ("would be revoked, but " if dry_run != "none" else "revoked, but ") + "; ".join(left)
        )


def _check_bindings(person, shared, step):
    """The bindings each cluster will get, checked there before any certificate is made: one error
    names every cluster that would refuse them."""
    problems = []
    for context, manifests in person.add_bindings.items():
        if not manifests:
            continue
        cluster = shared.cluster(context)
        step(f"{cluster.name}: checking that the roles to bind exist")
        try:
            rbac.check_can_bind(cluster.kubectl, access_of(person.wanted), manifests)
        except UsercertError as exc:
            problems.append(f"{cluster.name}: {summary(exc)}")
    if problems:
        raise UsercertError("nothing was done for this person: " + "; ".join(problems))


def _rebind(person, shared, step, dry_run):
    for context in dict.fromkeys([*person.add_bindings, *person.remove_bindings]):
        cluster = shared.cluster(context)
        server = " (server dry run)" if dry_run == "server" else ""
        if person.add_bindings.get(context) and dry_run != "client":
            step(f"{cluster.name}: applying the RBAC bindings{server}")
            rbac.apply(cluster.kubectl, list(person.add_bindings[context]), dry_run=dry_run)
        for binding in person.remove_bindings.get(context, ()) if dry_run != "client" else ():
            step(f"{cluster.name}: deleting {binding.ref}{server}")
            rbac.delete(cluster.kubectl, binding, dry_run=dry_run)


def _rehearse(person, shared, request, step):
    """A dry run: what the work checks before it changes anything; with server, each cluster asked."""
    user = person.wanted
    if person.prune:
        _revoke(person, shared, request, step, request.dry_run)
    if user is None:
        return
    subject, _ = checked_subject(
        user.name, user.groups, key=user.key, allow_system_masters=request.allow_system_masters
    )
    _check_bindings(person, shared, step)
    members = shared.members(user, subject, person.create or person.add, step)
    fleet_members.check_members(user=user.name, members=members, progress=step)
    rehearsed = [(m, subject, user.key, m.signer.grant(user.validity)) for m in members]
    if person.renew:  # (what it adds was rehearsed with the creates above)
        rehearsed += _renew(person, user, subject, shared, request, step, rehearse=True)
    if request.dry_run == "server":
        for member, rehearsed_subject, spec, validity in rehearsed:
            member.signer.rehearse(rehearsed_subject, spec, validity, step)
        _rebind(person, shared, step, "server")


class Shared:
    """What every person's work shares: each cluster (resolved once), its signer chooser (its CA read
    once), the signing options with the roster's CA files per context."""

    def __init__(self, request, clusters, choosers, roster_clusters, signing):
        self.request, self.kubectl = request, request.signing.kubectl
        self.signing, self.signer_given = signing, request.signer_given
        self._clusters = {cluster.context: cluster for cluster in clusters}
        self._choosers, self._roster = choosers, roster_clusters

    def cluster(self, context):
        return self._clusters[context]

    def members(self, user, subject, clusters, step):
        """A Member per cluster, signed as --signer, else spec.clusters[].signer, else the user's
        signer (spec.defaults), else as the CA at hand for that cluster says."""
        chosen = []
        for cluster in clusters:
            own = self._roster[cluster.context].signer
            kind = (
                None
                if self.signer_given
                else own or (None if user.signer == "auto" else user.signer)
            )
            on = lambda message, name=cluster.name: step(f"{name}: {message}")  # noqa: E731
            signer = self._choosers[cluster.context].choose(
                subject, kind, progress=on, sleep=_sleep
            )
            chosen.append(fleet_members.Member(cluster, signer))
        return chosen


def _sleep(seconds):
    signals.pause(seconds)  # a signal stops a CSR wait at once
