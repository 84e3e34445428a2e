"""A person's clusters: which of a user's ledger records are current, cluster by cluster.

A record without `fleet` (a single-cluster create, sign, renew, adoption or revocation) is about
the whole user, as it always was: the newest one is the truth. A fleet's records (create --context
A --context B, apply with spec.clusters) each name their cluster and carry `fleet`, the clusters the
person had when it was written: the newest record of each (user, cluster) is the truth about it.
An issuance keeps only the clusters of its fleet (create --force for other clusters replaces the
person); a renewal or a revocation changes its own cluster alone.
"""

import os
from typing import Dict

from ..errors import InvalidInput
from .layout import UserFiles


def fold(state, entry):
    """The person's state ({cluster: entry}) once `entry`, their next record, is read."""
    if not entry.fleet:
        return {entry.cluster or "": entry}
    kept = {
        cluster: known
        for cluster, known in (state or {}).items()
        if known.fleet and (entry.event not in ("issued", "adopted") or cluster in entry.fleet)
    }
    kept[entry.cluster or ""] = entry
    return kept


def current(entries) -> Dict[str, object]:
    """{cluster: the newest record of it} for one user's entries, oldest first."""
    state = {}
    for entry in entries:
        state = fold(state, entry)
    return state


def is_fleet(state):
    """Whether the person's current records are a fleet's (clusters/ in their folder)."""
    return any(entry.fleet for entry in (state or {}).values())


def live(state):
    """The clusters of a fleet not revoked, in the order of the newest fleet list."""
    newest = max(state.values(), key=lambda e: e.time.timestamp() if e.time else 0)
    order = newest.fleet
    ranked = {name: index for index, name in enumerate(order)}
    return sorted(
        (cluster for cluster, entry in state.items() if entry.event != "revoked"),
        key=lambda cluster: (ranked.get(cluster, len(ranked)), cluster),
    )


def cluster_files(user_files: UserFiles, cluster):
    """The files of one cluster of a person: its certificate, and the key it was issued for (its own,
    made with --key-per-cluster, else the person's one key)."""
    own = user_files.for_cluster(cluster, own_key=True)
    return own if os.path.lexists(own.key) else user_files.for_cluster(cluster)


def select(state, user, contexts=(), revoked_too=False):
    """[(cluster, its record)] of a fleet person: every cluster (not revoked, unless `revoked_too`),
    or those of the contexts named (a context it was issued through, or the cluster's name)."""
    order = {name: index for index, name in enumerate(live(state))}
    known = sorted(state.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
    if not contexts:
        return [(c, e) for c, e in known if revoked_too or e.event != "revoked"]
    chosen = []
    for context in dict.fromkeys(contexts):
        found = next((item for item in known if item[1].context == context), None) or next(
            (item for item in known if item[0] == context), None
        )
        if found is None:
            names = ", ".join(e.context or c for c, e in known if e.event != "revoked")
            raise InvalidInput(
                f"{user} has no certificate issued through context {context!r}",
                hint=f"{user}'s contexts: {names or 'none'} (kubectl usercert list {user})",
            )
        if found[1].event == "revoked" and not revoked_too:
            raise InvalidInput(
                f"{user} was revoked on {found[0]} (context {context})",
                hint="'kubectl usercert create' issues anew",
            )
        chosen.append(found)
    return chosen
