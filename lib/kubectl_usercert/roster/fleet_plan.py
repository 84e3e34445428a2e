"""apply's plan for a roster with spec.clusters: per user and cluster, what to do and why, decided
from the person's records per cluster (store/clusters.py), the bindings this tool made on each
cluster, and the CA each cluster signs with now. Nothing here changes anything.

The actions are plan.py's, each about one cluster of one person:
  create    no certificate of the person there (a new person: every cluster at once; a person
            already on other clusters: this one added, for their key)
  reissue   the groups or the key type changed (with one key for every cluster, a new key means a
            new certificate on every cluster)
  renew     it expires within renewBefore, or another CA signs there now
  rebind    the roles there changed
  prune     (--prune) a cluster the person is no longer on, or a person no longer listed: revoked
            there as revoke --context does
  unlisted  the same without --prune: only reported
The work is done per person, all of a person's clusters together (see fleet_rollout.py).
"""

from dataclasses import dataclass, field
from typing import List, Optional

from ..errors import InvalidInput
from ..pki.keys import spec_of
from ..pki.subject import group_list, make_subject
from ..store import clusters as person_clusters
from ..times import duration_text
from .plan import _binding_changes


@dataclass
class Row:
    """One line of the plan: a person on one cluster."""

    cluster: Optional[str]  # the cluster's name in the person's kubeconfig (None: a whole user)
    context: Optional[str]
    actions: List[str] = field(default_factory=list)
    reasons: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


@dataclass
class Person:
    """What one person's work is: the rows, and what they mean for the certificates."""

    user: str
    wanted: Optional[object] = None  # the RosterUser
    holding: Optional[object] = None  # inventory.Holding
    rows: List[Row] = field(default_factory=list)
    create: list = field(default_factory=list)  # FleetClusters: a new person (or one moved here)
    force: bool = False  # their single-cluster folder is replaced
    add: list = field(default_factory=list)  # FleetClusters added to a person of other clusters
    renew: List[str] = field(default_factory=list)  # contexts renewed or reissued
    rekey: bool = False
    prune: List[str] = field(default_factory=list)  # contexts revoked
    prune_whole: bool = False  # a single-cluster user no longer listed (revoke_user)
    refused: Optional[str] = None
    add_bindings: dict = field(default_factory=dict)  # context: manifests to apply there
    remove_bindings: dict = field(default_factory=dict)  # context: rbac.Binding to delete there

    @property
    def changes(self):
        return (
            bool(self.create or self.add or self.renew or self.prune or self.prune_whole)
            or any(self.add_bindings.values())
            or any(self.remove_bindings.values())
        )


def make(users, held, bindings, fleet_of, fingerprints, at, prune):
    """Persons for the roster's users (in order), then for the out-dir's users it no longer lists.
    `fleet_of(user)`: the user's FleetClusters; `bindings`: {context: [rbac.Binding]};
    `fingerprints`: {context: the CA fingerprint in use there, or None}."""
    persons = [
        _person(user, held.get(user.name), fleet_of(user), bindings, fingerprints, at, prune)
        for user in users
    ]
    listed = {user.name for user in users}
    for name, holding in sorted(held.items()):
        if name in listed:
            continue
        person = Person(name, holding=holding)
        if holding.clusters is not None:
            for cluster, entry in person_clusters.select(holding.clusters, name):
                person.rows.append(
                    Row(
                        cluster,
                        entry.context,
                        ["prune" if prune else "unlisted"],
                        ["not in the roster"],
                    )
                )
                if prune:
                    person.prune.append(entry.context)
        elif holding.present and holding.entry is not None:
            person.rows.append(
                Row(None, None, ["prune" if prune else "unlisted"], ["not in the roster"])
            )
            person.prune_whole = prune
        if person.rows:
            persons.append(person)
    return persons


def _person(user, holding, fleet_clusters, bindings, fingerprints, at, prune):
    person = Person(user.name, user, holding)
    try:
        subject = make_subject(user.name, user.groups)
    except InvalidInput as exc:
        person.refused = exc.message
        person.rows = [Row(c.name, c.context, ["refused"], [exc.message]) for c in fleet_clusters]
        return person
    state = holding.clusters if holding is not None and holding.clusters is not None else {}
    live = {e.context: (name, e) for name, e in state.items() if e.event != "revoked"}
    fresh = not live
    for cluster in fleet_clusters:
        row = Row(cluster.name, cluster.context)
        if cluster.context not in live:
            row.actions.append("create")
            row.reasons.append(_why_create(holding, fresh))
            (person.create if fresh else person.add).append(cluster)
        else:
            name, entry = live[cluster.context]
            row.cluster = name
            _certificate_actions(person, row, user, subject, entry, fingerprints, at)
        _bindings(person, row, user, subject, bindings.get(cluster.context))
        person.rows.append(row)
    person.force = fresh and holding is not None and holding.files is not None
    wanted = {cluster.context for cluster in fleet_clusters}
    for context, (name, _) in live.items():
        if context not in wanted:
            person.rows.append(
                Row(
                    name,
                    context,
                    ["prune" if prune else "unlisted"],
                    ["not on this cluster in the roster"],
                )
            )
            if prune:
                person.prune.append(context)
    if person.rekey:  # one key for every cluster: a new one means a new certificate on each
        person.renew = [c for c in live if c in wanted]
    return person


def _why_create(holding, fresh):
    if holding is not None and holding.clusters is None and holding.present:
        return "moves to the clusters of the roster (its single-cluster folder is replaced)"
    return "no credential here" if fresh else "added to the person's clusters (their key)"


def _certificate_actions(person, row, user, subject, entry, fingerprints, at):
    """reissue, renew or nothing for one cluster's certificate (the ledger's record of it)."""
    key_now = spec_of(entry.key_type, entry.key_bits) if entry.key_type else None
    rekey = key_now is not None and (key_now.type, key_now.bits) != (user.key.type, user.key.bits)
    if set(entry.groups) != set(subject.groups) or rekey:
        row.actions.append("reissue")
        row.reasons.append(
            f"groups {group_list(entry.groups) or '(none)'} -> {group_list(subject.groups) or '(none)'}"
            if set(entry.groups) != set(subject.groups)
            else f"key {key_now.describe()} -> {user.key.describe()}"
        )
        row.notes.append(
            f"the old certificate (serial {entry.serial}) stays valid until "
            f"{entry.not_after:%Y-%m-%d %H:%M}Z: Kubernetes cannot revoke it"
        )
        person.rekey = person.rekey or rekey
    elif entry.not_after is not None and entry.not_after - at <= user.renew_before:
        row.actions.append("renew")
        row.reasons.append(
            f"expires {entry.not_after:%Y-%m-%d} (renewBefore {duration_text(user.renew_before)})"
        )
    elif (
        fingerprints.get(entry.context)
        and entry.ca_fingerprint_sha256
        and entry.ca_fingerprint_sha256 != fingerprints[entry.context]
    ):
        row.actions.append("renew")
        row.reasons.append("signed by another CA than the one in use there now")
    else:
        return
    person.renew.append(entry.context)


def _bindings(person, row, user, subject, bindings):
    add, remove = _binding_changes(user, subject, bindings)
    if add or remove:
        row.actions.append("rebind")
        row.reasons.append(
            ", ".join(
                [f"+{m['metadata']['name']}" for m in add if m["kind"].endswith("Binding")]
                + [f"-{b.name}" for b in remove]
            )
        )
        person.add_bindings[row.context] = add
        person.remove_bindings[row.context] = remove
