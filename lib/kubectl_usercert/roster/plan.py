"""apply's plan: for each user of the roster, and each user of the out-dir it no longer lists, what to
do and why, decided from what the out-dir holds (the ledger, checked against the folders), the
bindings this tool made, and the CA now in use. Nothing here changes anything.

  create    no credential in the out-dir
  reissue   the groups (or the key type) changed: groups live in the certificate, so a new one is
            needed, and the old one stays valid until it expires
  renew     it expires within renewBefore, or another CA signs now
  rebind    the roles changed: add the missing bindings, remove the ones this tool made that the
            roster no longer names
  unchanged nothing to do
  prune     (--prune) not in the roster any more: revoked as `revoke` does
  unlisted  not in the roster any more, and no --prune (or a folder this tool never issued, which
            --prune leaves alone): only reported
  refused   a name the certificate could not carry
"""

from dataclasses import dataclass, field
from typing import Optional, Tuple

from ..cluster import rbac
from ..cluster.rbac import RoleRef
from ..errors import InvalidInput
from ..pki.keys import spec_of
from ..pki.subject import group_list, make_subject
from ..times import duration_text

CHANGES = ("create", "reissue", "renew", "rebind", "prune")


@dataclass(frozen=True, eq=False, repr=False)
class PlanItem:
    user: str
    actions: Tuple[str, ...]
    reasons: Tuple[str, ...]
    wanted: Optional[object] = None  # the RosterUser
    holding: Optional[object] = None  # inventory.Holding
    add: Tuple[dict, ...] = ()  # manifests to apply
    remove: Tuple[object, ...] = ()  # rbac.Binding to delete
    rekey: bool = False
    notes: Tuple[str, ...] = field(default=())

    @property
    def changes(self):
        return any(action in CHANGES for action in self.actions)


def make(users, held, bindings, ca_fingerprint, at, prune):
    """PlanItems for the roster's users (in roster order), then for the out-dir's users it no longer lists."""
    items = _refuse_shared_names(
        [_item(user, held.get(user.name), bindings, ca_fingerprint, at) for user in users]
    )
    listed = {user.name for user in users}
    for name, holding in sorted(held.items()):
        if name in listed or not holding.present:
            continue
        if (
            holding.entry is None
        ):  # no ledger line: made by hand (or by a run killed before recording it)
            items.append(
                PlanItem(
                    name,
                    ("unlisted",),
                    (
                        "not in the roster, and not issued by this tool as far as the ledger knows: --prune leaves it "
                        f"(revoke it by name if it is: kubectl usercert revoke {name})",
                    ),
                    holding=holding,
                )
            )
            continue
        reason = "not in the roster" + ("" if prune else "; --prune revokes it")
        items.append(
            PlanItem(name, ("prune" if prune else "unlisted",), (reason,), holding=holding)
        )
    return items


def access_of(user):
    """The bindings the roster asks for: clusterRoles and the preset where `namespace` says (cluster-wide
    without one, as create -n does), roles in their own namespaces."""
    plan = rbac.plan_bindings(
        user.cluster_roles, (), user.namespace, user.preset, self_renew=user.self_renew
    )
    plan.roles.extend(RoleRef("Role", name, namespace) for name, namespace in user.roles)
    return plan


def _refuse_shared_names(items):
    """Refuse the users whose bindings would share a name (one user's Role and ClusterRole of one name
    in one namespace): kubectl apply would keep only the last one applied, silently."""
    claims = {}
    for item in items:
        if "refused" in item.actions:
            continue
        for manifest in rbac.binding_manifests(access_of(item.wanted), item.user, ()):
            if manifest["kind"].endswith("Binding"):
                meta, ref = manifest["metadata"], manifest["roleRef"]
                key = (manifest["kind"], meta.get("namespace"), meta["name"])
                claims.setdefault(key, []).append(
                    (item.user, f"{item.user}'s {ref['kind']} {ref['name']}")
                )
    clashes = {}
    for (kind, namespace, name), claimants in claims.items():
        if len(claimants) > 1:
            where = f" in {namespace}" if namespace else ""
            for user, _ in claimants:
                clashes.setdefault(
                    user,
                    f'two bindings would be {kind} "{name}"{where} ('
                    f"{' and '.join(what for _, what in claimants)}): only one can be",
                )
    return [
        PlanItem(item.user, ("refused",), (clashes[item.user],), wanted=item.wanted)
        if item.user in clashes
        else item
        for item in items
    ]


def _item(user, holding, bindings, ca_fingerprint, at):
    try:
        subject = make_subject(user.name, user.groups)
    except InvalidInput as exc:
        return PlanItem(user.name, ("refused",), (exc.message,), wanted=user)
    if holding is not None and holding.clusters is not None and holding.present:
        return PlanItem(
            user.name,
            ("refused",),
            (f"{user.name} is on several clusters: apply a roster with spec.clusters for them",),
            wanted=user,
        )
    actions, reasons, notes, rekey = [], [], [], False
    if holding is None or not holding.present:
        actions.append("create")
        reasons.append("no credential here")
        if (
            holding is not None
            and holding.entry is not None
            and not holding.revoked
            and holding.fact("not_after")
            and holding.fact("not_after") > at
        ):
            notes.append(
                f"the last one (serial {holding.fact('serial')}) stays valid until "
                f"{holding.fact('not_after'):%Y-%m-%d}, wherever its files went"
            )
    else:
        rekey = _certificate_actions(
            user, subject, holding, ca_fingerprint, at, actions, reasons, notes
        )
    add, remove = _binding_changes(user, subject, bindings)
    if add or remove:
        actions.append("rebind")
        reasons.append(
            ", ".join(
                [f"+{m['metadata']['name']}" for m in add if m["kind"].endswith("Binding")]
                + [f"-{b.name}" for b in remove]
            )
        )
    return PlanItem(
        user.name,
        tuple(actions) or ("unchanged",),
        tuple(reasons),
        user,
        holding,
        tuple(add),
        tuple(remove),
        rekey,
        tuple(notes),
    )


def _certificate_actions(user, subject, holding, ca_fingerprint, at, actions, reasons, notes):
    """reissue, renew or nothing for a credential in place; True when a new key is needed too. The
    groups it holds are the ledger's (a file put back by hand does not change them)."""
    recorded = holding.entry is not None and holding.entry.event != "revoked"
    groups = tuple((holding.entry.groups if recorded else holding.fact("groups")) or ())
    key_now = _held_key(holding)
    rekey = key_now is not None and (key_now.type, key_now.bits) != (user.key.type, user.key.bits)
    not_after = holding.fact("not_after")
    if set(groups) != set(subject.groups) or rekey:
        actions.append("reissue")
        reasons.append(
            f"groups {_names(groups)} -> {_names(subject.groups)}"
            if set(groups) != set(subject.groups)
            else f"key {key_now.describe()} -> {user.key.describe()}"
        )
        notes.append(
            f"the old certificate (serial {holding.fact('serial')}) stays valid until "
            f"{not_after:%Y-%m-%d %H:%M}Z: Kubernetes cannot revoke it"
        )
    elif recorded and holding.entry.key_held_by == "owner":
        notes.append(  # (its owner renewed it: renew --self; the admin cannot, the key is theirs)
            "its key is its owner's (renewed with renew --self): renewed by them, not here"
        )
    elif recorded and bool(holding.entry.self_renew) != user.self_renew:
        actions.append("renew")  # the newest record says whether the user may self-renew
        reasons.append("selfRenew granted" if user.self_renew else "selfRenew withdrawn")
    elif not_after - at <= user.renew_before:
        actions.append("renew")
        reasons.append(
            f"expires {not_after:%Y-%m-%d} (renewBefore {duration_text(user.renew_before)})"
        )
    elif (
        ca_fingerprint
        and holding.entry is not None
        and holding.entry.ca_fingerprint_sha256
        and holding.entry.ca_fingerprint_sha256 != ca_fingerprint
    ):
        actions.append("renew")
        reasons.append("signed by another CA than the one in use now")
    return rekey


def _binding_changes(user, subject, bindings):
    """(manifests to apply, bindings to delete); nothing when the cluster was not asked."""
    if bindings is None:
        return [], []
    wanted = rbac.binding_manifests(access_of(user), subject.user, subject.groups)
    have = {
        (b.kind, b.namespace, b.name): b
        for b in bindings
        if b.subject_kind == "User" and b.subject == user.name
    }
    to_bind = {
        (m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"]): m
        for m in wanted
        if m["kind"].endswith("Binding")
    }
    missing = [m for key, m in to_bind.items() if key not in have]
    roles = [
        m for m in wanted if not m["kind"].endswith("Binding")
    ]  # the preset's ClusterRole, with its binding
    return (roles + missing if missing else []), [
        b for key, b in have.items() if key not in to_bind
    ]


def _held_key(holding):
    algorithm = holding.fact("key_type")
    try:
        return spec_of(algorithm, holding.fact("key_bits")) if algorithm else None
    except InvalidInput:
        return None


def _names(groups):
    return group_list(groups) or "(none)"
