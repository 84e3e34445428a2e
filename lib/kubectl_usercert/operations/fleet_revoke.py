"""`revoke` of a fleet person (and apply --prune on a fleet): on each of the person's clusters, or on
those named with --context, the bindings this tool made for them deleted through the context the
certificate was issued through, the certificate's files archived, and a `revoked` line per cluster
recorded (in one write). Revoking every cluster archives the whole folder, as revoke does for one;
revoking some takes their certificates (and keys of their own) out of the folder and their entries
out of the kubeconfig, archived in DIR/.usercert/revoked/USER@CLUSTER.SERIAL.TIME/, and keeps the
rest. As ever, each certificate stays valid until it expires; a cluster that cannot be asked is
recorded and named as still to clean up (running revoke again removes its bindings, and records
nothing twice).
"""

import os
import shutil
from dataclasses import replace

from .. import signals
from ..cluster import fleet, rbac, user_kubeconfig
from ..cluster.kubeconfig import read_document
from ..cluster.kubectl import summary
from ..errors import UsercertError
from ..output.results import Revocation
from ..store import clusters, files, ledger, locks
from ..store.layout import file_safe, revoked_archive, revoked_dir
from ..store.ledger import LedgerEntry
from .revoke import archive_folder, delete_bindings


def _silent(_message):
    pass


def revoke_person(*, user, out_dir, kubectl, contexts=(), dry_run="none", progress=_silent):
    """Revoke `user` of `out_dir` on every cluster (or those of `contexts`); [(cluster, admin context,
    Revocation)]. `kubectl`: the admin's (its kubeconfig; each cluster's context is the recorded one).
    `dry_run`: client says what would go; server also asks each cluster to delete with dryRun=All."""
    rehearsal = dry_run != "none"
    with locks.user_operation(out_dir, user, progress, dry_run=rehearsal) as user_files:
        state = clusters.current(ledger.history(out_dir, user))
        chosen = clusters.select(state, user, contexts, revoked_too=True)
        live = clusters.live(state)
        found = [
            _found(kubectl, user, cluster, entry, rehearsal, progress) for cluster, entry in chosen
        ]
        if dry_run == "client":
            return [(c, e.context, result) for (c, e), (result, _) in zip(chosen, found)]
        if dry_run == "server":
            return [
                (c, e.context, delete_bindings(asked, dry_run, result, [], progress))
                if asked is not None
                else (c, e.context, result)
                for (c, e), (result, asked) in zip(chosen, found)
            ]
        going = [c for c, e in chosen if e.event != "revoked"]
        archived = _archive(user_files, out_dir, user, going, set(going) >= set(live))
        done = [
            (c, e, replace(r, archived_to=archived.get(c))) for (c, e), (r, _) in zip(chosen, found)
        ]
        removed = {cluster: [] for cluster, _ in chosen}
        try:
            for index, ((cluster, entry, result), (_, asked)) in enumerate(zip(done, found)):
                if asked is not None:
                    on = lambda message, name=cluster: progress(f"{name}: {message}")  # noqa: E731
                    result = delete_bindings(asked, dry_run, result, removed[cluster], on)
                done[index] = (cluster, entry, result)
        finally:  # interrupted or not, what was done is recorded (the files went already)
            _record(out_dir, user, live, done, removed)
    return [
        (c, e.context, replace(r, recorded=c in going, removed=tuple(removed[c])))
        for c, e, r in done
    ]


def _found(kubectl, user, cluster, entry, rehearsal, progress):
    """(what revoking this cluster would do, the admin's kubectl for it or None when it could not be
    asked): the bindings this tool made for the user there, and those to their groups left alone."""
    result = Revocation(
        user,
        entry.groups,
        entry.serial,
        entry.not_after,
        already_revoked=entry.event == "revoked",
        dry_run=rehearsal,
    )
    progress(f"{cluster}: finding the bindings this tool made")
    try:
        asked = fleet.kubectl_for(kubectl, entry.context)
        managed = rbac.managed_bindings(asked)
    except UsercertError as exc:
        return replace(
            result,
            remaining=(
                f"the bindings this tool made for {user} on {cluster} (context {entry.context}: "
                f"{summary(exc)}); run revoke again when it can be asked",
            ),
        ), None
    return replace(
        result,
        removed=tuple(b for b in managed if b.subject_kind == "User" and b.subject == user),
        group_bindings_kept=tuple(
            b for b in managed if b.subject_kind == "Group" and b.subject in entry.groups
        ),
    ), asked


def _archive(user_files, out_dir, user, going, everything):
    """{cluster: where its files were archived}: the whole folder when every cluster goes, else a
    copy of each cluster's files, and the folder swapped for one without them."""
    if not going or not os.path.isdir(user_files.directory):
        return {}
    if everything:
        target = archive_folder(user_files, out_dir, "clusters")
        return {cluster: target for cluster in going}
    files.ensure_dir(revoked_dir(out_dir))
    archived = {}
    with files.staged_dir(user_files.directory, force=True) as stage:
        files.copy_folder(user_files.directory, stage.path)
        staged = user_files.inside(stage.path)
        for cluster in going:
            place = clusters.cluster_files(staged, cluster)
            stem = f"{user_files.stem}@{file_safe(cluster)}"
            target = revoked_archive(out_dir, stem, _serial_of(place.cert))
            os.mkdir(target, files.PRIVATE_DIR_MODE)
            for path in _cluster_paths(staged, place, cluster):
                shutil.copy2(path, os.path.join(target, os.path.basename(path)))
                os.unlink(path)
            archived[cluster] = target
        config = user_kubeconfig.without_contexts(
            read_document(staged.kubeconfig),
            [user_kubeconfig.context_name(user, cluster) for cluster in going],
        )
        os.unlink(staged.kubeconfig)
        files.write_private(staged.kubeconfig, user_kubeconfig.dump(config))
        stage.commit(done=f"archived the files of {user} on {', '.join(going)}")
    return archived


def _cluster_paths(staged, place, cluster):
    """A cluster's files in a person's folder: its certificate, earlier ones, a key of its own."""
    base = os.path.basename(place.cert)[: -len(".crt")]
    found = [
        os.path.join(staged.clusters, name)
        for name in sorted(os.listdir(staged.clusters))
        if name == f"{base}.crt" or (name.startswith(f"{base}.") and name.endswith(".crt"))
    ]
    return found + ([place.key] if place.key != staged.key and os.path.isfile(place.key) else [])


def _serial_of(cert):
    from ..pki import openssl

    try:
        return openssl.certificate_info(cert).serial
    except UsercertError:
        return None


def _record(out_dir, user, live, done, removed):
    entries = [
        LedgerEntry(
            event="revoked",
            user=user,
            groups=result.groups,
            serial=result.serial,
            fingerprint_sha256=entry.fingerprint_sha256,
            not_after=result.not_after,
            bindings_removed=tuple(b.name for b in removed.get(cluster, ())),
            archived_to=result.archived_to,
            cluster=cluster,
            context=entry.context,
            server=entry.server,
            fleet=tuple(live) or (cluster,),
        )
        for cluster, entry, result in done
        if not result.already_revoked
    ]
    if not entries:
        return
    with signals.critical():
        ledger.append_all(out_dir, entries)
    signals.record(f"recorded the revocation of {user} on {', '.join(e.cluster for e in entries)}")
