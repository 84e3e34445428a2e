"""`apply -f ROSTER`: a team's users as a roster kept in git, applied like a manifest.

It plans (for each user: create, renew, reissue, rebind, unchanged; prune or report users the
roster no longer lists), then acts, several users at a time; a dry run makes every check the work
would make before changing anything (and, with server, asks the cluster with dryRun=All), and stops
there. Applying the same roster twice does
nothing the second time; a run interrupted or partly failed is completed by running it again.
`create --from-file users.csv` is a roster made in memory, applied without --prune.
"""

import csv
import io
import os
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Optional, Tuple

from ..cluster import fleet, rbac
from ..cluster.kubeconfig import kubeconfig_paths, load_merged
from ..cluster.kubectl import summary
from ..errors import InvalidInput, UsercertError
from ..operations.approve import approve_pending
from ..output.results import RosterApplied, now
from ..pki.signers import ContextCA, SignerOptions, per_cluster
from ..pki.signers.chooser import SignerChooser
from ..roster import fleet_plan, fleet_rollout, plan, rollout, roster
from ..store import files, inventory
from ..store.layout import locks_dir

ROSTER_BYTES = 8 << 20


@dataclass(frozen=True, eq=False, repr=False)
class ApplyRequest:
    sources: Tuple[
        Tuple[str, object], ...
    ]  # (name shown in messages, text or roster.BuiltRoster) of each -f
    out_dir: str = "clients"
    signing: SignerOptions = field(default_factory=SignerOptions)
    signer_given: bool = False  # --signer on the command line overrides the roster's
    server: Optional[str] = None
    prune: bool = False
    dry_run: str = (
        "none"  # client: every check the work makes first, nothing changed; server: asked too
    )
    jobs: int = os.cpu_count() or 1
    allow_system_masters: bool = False


def apply(request, progress=lambda _message: None):
    users = roster.load(request.sources)
    if request.prune and not users:
        # as kubectl apply refuses "no objects passed to apply": an empty roster would prune everyone
        raise InvalidInput(
            "no users passed to apply --prune: it would revoke every user of " + request.out_dir,
            hint="check -f (an empty file, or spec.users with nothing in it); to revoke users "
            "one by one use 'kubectl usercert revoke USER'",
        )
    if any(user.clusters for user in users):
        if any(user.self_renew for user in users):  # (approve decides on one cluster's requests)
            raise InvalidInput(
                "selfRenew is for a roster of one cluster: it cannot be used with spec.clusters",
                hint="grant it per cluster with create or sign --self-renew --context CONTEXT",
            )
        return _apply_fleet(request, users, progress)
    at = now()
    held, problems = inventory.holdings(request.out_dir)
    kubectl = request.signing.kubectl
    reachable = bool(kubeconfig_paths(kubectl.kubeconfig))
    if not reachable and any(not plan.access_of(user).empty for user in users):
        raise InvalidInput(
            "the roster binds roles, and there is no kubeconfig to reach the cluster",
            hint="pass --kubeconfig FILE (and --context)",
        )
    bindings = None
    if reachable and (users or request.prune):
        progress("Looking up the bindings this tool made")
        bindings = rbac.managed_bindings(kubectl)
    signers = SignerChooser(request.signing)
    items = plan.make(users, held, bindings, signers.located_fingerprint(), at, request.prune)
    rehearsal = request.dry_run != "none"  # the same work up to where it would change something
    tracker = _Tracker(
        progress,
        sum(1 for item in items if item.changes or "refused" in item.actions),
        marks=not rehearsal,
    )
    with ExitStack() as made:
        if not rehearsal:  # a dry run makes nothing
            # made once for every worker, and gone again if left empty (the worker that made the lock
            # folders is not always the last to leave them: an interrupted run leaves nothing)
            made.enter_context(files.made_dirs(request.out_dir))
            made.enter_context(files.made_dirs(locks_dir(request.out_dir)))
        done = rollout.carry_out(
            items, rollout.Shared(request, signers, reachable), request, tracker
        )
    approvals = None
    renewing = {user.name for user in users if user.self_renew}
    if reachable and renewing:  # the roster's users' pending self-renewals, as approve does
        try:
            approvals = approve_pending(
                kubectl=kubectl,
                out_dir=request.out_dir,
                users=renewing,
                dry_run=request.dry_run,
                progress=lambda _message: None,
            )
        except UsercertError as exc:
            problems = list(problems) + [f"pending self-renewals not looked at: {summary(exc)}"]
    return RosterApplied(
        tuple(done), rehearsal, request.prune, at, tuple(problems), approvals=approvals
    )


def _apply_fleet(request, users, progress):
    """A roster with spec.clusters: planned and carried out per person and cluster (fleet_plan,
    fleet_rollout), each cluster resolved once, its CA read once, its bindings asked once."""
    kubectl = request.signing.kubectl
    if kubectl.context or kubectl.cluster or request.server:
        raise InvalidInput(
            "the roster's spec.clusters names the clusters",
            hint="drop --context, --cluster and --server (each context's cluster is the kubeconfig's)",
        )
    wanted = {c.context: c for user in users for c in user.clusters}
    found = {c.context: c for c in fleet.resolve(kubectl, _known(kubectl, wanted.values()))}
    signing = replace(
        request.signing,
        per_context=request.signing.per_context
        + tuple(
            ContextCA(c.context, c.ca_cert, c.ca_key, c.ca_key_passphrase_file)
            for c in wanted.values()
            if c.context not in {given.context for given in request.signing.per_context}
            and (c.ca_cert or c.ca_key or c.ca_key_passphrase_file)
        ),
    )
    if (signing.ca_cert or signing.ca_key) and len(found) > 1:
        raise InvalidInput(
            f"--ca-cert/--ca-key FILE names no cluster, and the roster has {len(found)}",
            hint="give each cluster's CA in spec.clusters (caCert, caKey), or as --ca-cert CONTEXT=FILE",
        )
    choosers = {}
    for context, cluster in found.items():
        kind = signing.kind if request.signer_given else wanted[context].signer or "auto"
        own = replace(signing.for_context(context), kind=kind)
        [own] = per_cluster.for_clusters(own, [cluster], progress)
        choosers[context] = SignerChooser(own)
    at = now()
    held, problems = inventory.holdings(request.out_dir)
    bindings = {}
    for context, cluster in found.items():
        progress(f"{cluster.name}: looking up the bindings this tool made")
        bindings[context] = rbac.managed_bindings(cluster.kubectl)
    persons = fleet_plan.make(
        users,
        held,
        bindings,
        lambda user: [found[c.context] for c in user.clusters],
        {context: chooser.located_fingerprint() for context, chooser in choosers.items()},
        at,
        request.prune,
    )
    rehearsal = request.dry_run != "none"
    tracker = _Tracker(
        progress, sum(1 for p in persons if p.changes or p.refused), marks=not rehearsal
    )
    shared = fleet_rollout.Shared(request, list(found.values()), choosers, wanted, signing)
    with ExitStack() as made:
        if not rehearsal:
            made.enter_context(files.made_dirs(request.out_dir))
            made.enter_context(files.made_dirs(locks_dir(request.out_dir)))
        done = fleet_rollout.carry_out(persons, shared, request, tracker)
    return RosterApplied(tuple(done), rehearsal, request.prune, at, tuple(problems))


def _known(kubectl, roster_clusters):
    """The contexts of spec.clusters, each checked to be one of the admin kubeconfig's (an error
    names the roster's line)."""
    paths = kubeconfig_paths(kubectl.kubeconfig)
    known = load_merged(paths).contexts if paths else {}
    for cluster in roster_clusters:
        if cluster.context not in known:
            shown = ", ".join(sorted(known)[:12]) or "none"
            raise InvalidInput(
                f"{cluster.source}.context: context {cluster.context!r} not found in "
                f"{', '.join(paths) or 'any kubeconfig (none was found)'}",
                hint=f"the contexts there: {shown} (kubectl config get-contexts; --kubeconfig)",
            )
    return [cluster.context for cluster in roster_clusters]


class _Tracker:
    """Per-user steps and results, on a progress bar when `progress` is one (console.bar), else as
    lines through the plain callback."""

    def __init__(self, progress, total, marks=True):
        self.progress, self.marks = (
            progress,
            marks,
        )  # marks: a count first, and a mark per user done
        begin = getattr(progress, "begin", None)
        if begin and marks:
            begin(total)

    def step(self, user, message):
        tell = getattr(self.progress, "step", None)
        tell(user, message) if tell else self.progress(f"{user}: {message}")

    def done(self, user, ok):
        tell = getattr(self.progress, "done", None)
        if tell and self.marks:
            tell(user, ok)


def file_sources(filenames):
    """((name, text)) of the -f files; `-` is stdin. Bytes that are not UTF-8 are refused, not replaced."""
    sources = []
    for name in filenames:
        if name == "-":
            data = sys.stdin.buffer.read(ROSTER_BYTES + 1) if sys.stdin is not None else b""
            if len(data) > ROSTER_BYTES:
                raise InvalidInput(
                    f"the roster on stdin is larger than {ROSTER_BYTES >> 20} MiB",
                    hint="check -f -",
                )
            sources.append(("stdin", _text(data, "stdin", "check -f -")))
        else:
            sources.append(
                (
                    name,
                    _text(
                        files.read_input(name, "the roster", "check -f", ROSTER_BYTES),
                        name,
                        "check -f",
                    ),
                )
            )
    return tuple(sources)


def _text(data, shown, hint):
    """`data` as UTF-8 (a byte order mark dropped), or a one-line error naming the line of the first bad byte."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(
            f"{shown}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})",
            hint=f"save it as UTF-8; {hint}",
        ) from None


def csv_sources(path, options):
    """The sources of `create --from-file`: a roster made from the CSV, with create's flags as defaults."""
    text = _text(files.read_input(path, "the file", "check --from-file"), path, "check --from-file")
    defaults = {key: value for key, value in options.items() if value}
    if "roles" in defaults:
        defaults["roles"] = [
            {"name": name, "namespace": namespace} for name, namespace in defaults["roles"]
        ]
    if "clusterRoles" in defaults:
        defaults["clusterRoles"] = list(defaults["clusterRoles"])
    return ((path, roster_from_csv(path, text, defaults)),)


def roster_from_csv(path, text, defaults):
    """A UserRoster for `create --from-file`, made in memory (handed to the roster's checks as data, each
    user with its line): one user per line, `user,group,group...`; blank lines and lines starting with #
    are skipped. `defaults` go into spec.defaults."""
    users, lines = [], []
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            name, groups = row[0].strip(), [group.strip() for group in row[1:] if group.strip()]
            if not name:
                raise InvalidInput(
                    f"{path}:{reader.line_num}: the user name is empty",
                    hint="write user,group,group... per line",
                )
            users.append({"name": name, "groups": groups})
            lines.append(reader.line_num)
            if len(users) > roster.MAX_USERS:
                break  # (one more than the roster takes: its error names the line)
    except csv.Error as exc:
        raise InvalidInput(
            f"{path}:{max(reader.line_num, 1)}: not a CSV line ({exc})",
            hint="write user,group,group... per line",
        ) from None
    from .. import API_VERSION

    return roster.BuiltRoster(
        {
            "apiVersion": API_VERSION,
            "kind": roster.KIND,
            "metadata": {"name": os.path.basename(path)},
            "spec": {"defaults": defaults, "users": users},
        },
        tuple(lines),
    )
