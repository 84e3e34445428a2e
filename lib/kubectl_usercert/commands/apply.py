"""`apply -f ROSTER`: a team's users as a roster kept in git, applied like a manifest.

It plans (for each user: create, renew, reissue, rebind, unchanged; prune or report users the
roster no longer lists), then acts, several users at a time. Applying the same roster twice does
nothing the second time; a run interrupted or partly failed is completed by running it again.
`create --from-file users.csv` is a roster made in memory, applied without --prune.
"""

import csv
import io
import os
import sys
from dataclasses import dataclass, field
from typing import Optional, Tuple

from .. import files, inventory, plan, rbac, roster, rollout
from ..errors import InvalidInput
from ..kubeconfig import kubeconfig_paths
from ..layout import locks_dir
from ..results import AppliedUser, RosterApplied, now
from ..signers import SignerChooser, SignerOptions


@dataclass(frozen=True, eq=False, repr=False)
class ApplyRequest:
    sources: Tuple[Tuple[str, str], ...]  # (name shown in messages, text) of each -f
    out_dir: str = "clients"
    signing: SignerOptions = field(default_factory=SignerOptions)
    signer_given: bool = False  # --signer on the command line overrides the roster's
    server: Optional[str] = None
    prune: bool = False
    dry_run: bool = False
    jobs: int = os.cpu_count() or 1
    allow_system_masters: bool = False


def apply(request, progress=lambda _message: None):
    users = roster.load(request.sources)
    at = now()
    held, _problems = inventory.holdings(request.out_dir)
    kubectl = request.signing.kubectl
    reachable = bool(kubeconfig_paths(kubectl.kubeconfig))
    if not reachable and any(plan.access_of(user).roles for user in users):
        raise InvalidInput("the roster binds roles, and there is no kubeconfig to reach the cluster",
                           hint="pass --kubeconfig FILE (and --context)")
    bindings = None
    if reachable and (users or request.prune):
        progress("Looking up the bindings this tool made")
        bindings = rbac.managed_bindings(kubectl)
    signers = SignerChooser(request.signing)
    items = plan.make(users, held, bindings, signers.located_fingerprint(), at, request.prune)
    if request.dry_run:
        return RosterApplied(tuple(AppliedUser(i.user, i.actions, i.reasons, i.notes) for i in items), True,
                             request.prune, at)
    tracker = _Tracker(progress, sum(1 for item in items if item.changes or "refused" in item.actions))
    # made once for every worker, and gone again if left empty (the worker that made the lock
    # folders is not always the last to leave them: an interrupted run leaves nothing)
    with files.made_dirs(request.out_dir), files.made_dirs(locks_dir(request.out_dir)):
        done = rollout.carry_out(items, rollout.Shared(request, signers, reachable), request, tracker)
    return RosterApplied(tuple(done), False, request.prune, at)


class _Tracker:
    """Per-user steps and results, on a progress bar when `progress` is one (console.bar), else as
    lines through the plain callback."""

    def __init__(self, progress, total):
        self.progress = progress
        begin = getattr(progress, "begin", None)
        if begin:
            begin(total)

    def step(self, user, message):
        tell = getattr(self.progress, "step", None)
        tell(user, message) if tell else self.progress(f"{user}: {message}")

    def done(self, user, ok):
        tell = getattr(self.progress, "done", None)
        if tell:
            tell(user, ok)


def file_sources(filenames):
    """((name, text)) of the -f files; `-` is stdin."""
    sources = []
    for name in filenames:
        if name == "-":
            sources.append(("stdin", sys.stdin.read()))
        else:
            sources.append((name, files.read_input(name, "the roster", "check -f", 8 << 20).decode("utf-8", "replace")))
    return tuple(sources)


def csv_sources(path, options):
    """The sources of `create --from-file`: a roster made from the CSV, with create's flags as defaults."""
    text = files.read_input(path, "the file", "check --from-file").decode("utf-8", "replace")
    defaults = {key: value for key, value in options.items() if value}
    if "roles" in defaults:
        defaults["roles"] = [{"name": name, "namespace": namespace} for name, namespace in defaults["roles"]]
    if "clusterRoles" in defaults:
        defaults["clusterRoles"] = list(defaults["clusterRoles"])
    return ((path, roster_from_csv(path, text, defaults)),)


def roster_from_csv(path, text, defaults):
    """A UserRoster (as YAML text) for `create --from-file`: one user per line, `user,group,group...`;
    blank lines and lines starting with # are skipped. `defaults` go into spec.defaults."""
    users = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        name, groups = row[0].strip(), [group.strip() for group in row[1:] if group.strip()]
        if not name:
            raise InvalidInput(f"{path}:{number}: the user name is empty", hint="write user,group,group... per line")
        users.append({"name": name, "groups": groups})
    from .. import API_VERSION, yamltext
    return yamltext.dump({"apiVersion": API_VERSION, "kind": roster.KIND, "metadata": {"name": os.path.basename(path)},
                          "spec": {"defaults": defaults, "users": users}})
