"""`renew` of a fleet person (and apply's renewals, reissues and new clusters on a fleet): a new
certificate on each of the person's clusters, or on those named with --context, each signed as it
was issued there: the CA files recorded for it, the CA found here that is that cluster's (see
per_cluster), or its CSR API through the context it was issued through (approved by this tool again
if it approved it); for the lifetime and groups of its record unless flags say otherwise; for the
same key unless --rekey (which, with one key for every cluster, renews every cluster). The ledger's
newest record of each (user, cluster) is the truth: only the certificate it names is renewed.

All or nothing, as issuing is: a staged copy of the folder, every cluster signed (one failing
withdraws every request), the kubeconfig's users updated, and one swap with a ledger line per
cluster in one write. The previous certificates stay as clusters/CLUSTER.<serial>.crt.
"""

import os
from dataclasses import replace
from datetime import timedelta

from ..cluster import fleet, user_kubeconfig
from ..errors import InvalidInput, UsercertError
from ..output.results import Renewal
from ..pki import openssl
from ..pki.keys import key_spec, spec_of
from ..pki.signers import per_cluster
from ..pki.signers.chooser import SignerChooser
from ..store import clusters, files, ledger, locks
from .fleet import confirm, credential_of, failed_on, withdraw
from .fleet_members import Member
from .issue import checked_subject, key_signed, ledger_entry, new_key_signed, request_signed


def _silent(_message):
    pass


def renew_person(
    *,
    user,
    out_dir,
    signing,
    contexts=None,
    groups=None,
    lifetime=None,
    rekey=False,
    key_type=None,
    key_size=None,
    allow_system_masters=False,
    signer_given=False,
    add=(),
    rehearse=False,
    progress=_silent,
):
    """Renewals of `user`'s clusters (all; with `contexts`, a tuple, only those: none, with `add`
    alone), in place. `groups`, `lifetime`
    (None: each record's), `rekey` and `key_type` as renew's flags; `signing` (SignerOptions) and
    `signer_given` (the command line named a signer: do not sign as before). `add`: Members (their
    clusters and signers) to issue on too, for the same key (apply: a cluster the roster added). `rehearse`: every check,
    then [(Member, subject, key spec, validity)], nothing changed."""
    with locks.user_operation(out_dir, user, progress, dry_run=rehearse) as user_files:
        state = clusters.current(ledger.history(out_dir, user))
        chosen = clusters.select(state, user, contexts) if contexts is None or contexts else []
        _refuse_owner_held(user, chosen)
        shared = os.path.isfile(user_files.key)
        if rekey and shared and len(chosen) < len(clusters.live(state)):
            raise InvalidInput(
                f"--rekey makes a new key for {user}, whose one key every cluster's certificate is for",
                hint="renew every cluster (drop --context), or renew without --rekey",
            )
        olds = _checked_files(user_files, user, chosen, rekey)
        members, subjects, validities, spec = [], [], [], None
        for (cluster, entry), old in zip(chosen, olds):
            subject, _ = checked_subject(
                user,
                entry.groups if groups is None else groups,
                allow_system_masters=allow_system_masters,
            )
            current = spec_of(old.key_type, old.key_bits)
            spec = key_spec(key_type or current.type, key_size) if rekey else current
            member = _member(signing, cluster, entry, subject, signer_given, progress)
            asked = lifetime or entry.asked_lifetime() or timedelta(days=365)
            members.append(member)
            subjects.append(subject)
            validities.append((asked, member.signer.grant(asked)))
        newest = max(
            (e for _, e in clusters.select(state, user)), key=lambda e: e.time.timestamp()
        )  # what a cluster added gets: the person's groups, key and lifetime, unless given
        added, _ = checked_subject(
            user,
            newest.groups if groups is None else groups,
            allow_system_masters=allow_system_masters,
        )
        spec = spec or spec_of(newest.key_type, newest.key_bits)
        if add:
            lifetime = lifetime or newest.asked_lifetime() or timedelta(days=365)
        new = _named_apart(add, state)
        subjects += [added] * len(new)
        validities += [(lifetime, m.signer.grant(lifetime)) for m in new]
        if rehearse:
            return [(m, s, spec, v) for m, s, (_, v) in zip(members + new, subjects, validities)]
        return _swap(
            user_files, out_dir, user, state, chosen, olds, members, subjects, validities, new,
            spec, rekey, shared, progress,
        )  # fmt: skip


def _swap(
    user_files, out_dir, user, state, chosen, olds, members, subjects, validities, new, spec,
    rekey, shared, progress,
):  # fmt: skip
    """The staged copy of the folder, renewed (and extended) there, swapped in with its lines."""
    everyone = members + new
    fleet_names = tuple(dict.fromkeys(clusters.live(state) + [m.cluster.name for m in new]))
    with files.staged_dir(user_files.directory, force=True) as stage:
        staged = user_files.inside(stage.path)
        files.copy_folder(user_files.directory, stage.path)
        try:
            places = [clusters.cluster_files(staged, c) for c, _ in chosen] + [
                staged.for_cluster(m.cluster.name, own_key=not shared) for m in new
            ]
            for place, old in zip(places, olds):
                os.rename(place.cert, place.archived_cert(old.serial))
            if rekey and shared:
                progress(f"Generating {spec.describe()} key (one for every cluster)")
                os.unlink(staged.key)
                files.write_private(staged.key, openssl.generate_key(spec))
            asked = [a for a, _ in validities]
            granted = [v for _, v in validities]
            infos = _signed(places, everyone, subjects, granted, spec, rekey, shared, progress)
            _update_kubeconfig(staged, user, everyone, places, chosen, new, rekey)
            for member, subject in zip(everyone, subjects):
                confirm(staged.kubeconfig, [member], subject)
            finals = [clusters.cluster_files(user_files, c) for c, _ in chosen] + [
                user_files.for_cluster(m.cluster.name, own_key=not shared) for m in new
            ]
            records = [entry for _, entry in chosen] + [None] * len(new)
            credentials = [
                credential_of(subject, info, user_files, final, member, None, a, record)
                for subject, info, final, member, a, record in zip(
                    subjects, infos, finals, everyone, asked, records
                )
            ]
            entries = [
                ledger_entry(
                    "renewed" if position < len(members) else "issued",
                    credential,
                    member.signer,
                    fleet=fleet_names,
                    **({"previous_serial": olds[position].serial} if position < len(olds) else {}),
                )
                for position, (credential, member) in enumerate(zip(credentials, everyone))
            ]
            stage.commit(
                record=lambda: ledger.append_all(out_dir, entries),
                done=f"renewed {user_files.directory} ({len(everyone)} clusters)",
            )
        except BaseException as exc:
            withdraw(everyone, exc)
            raise
    return tuple(
        Renewal(
            credential,
            clusters.cluster_files(user_files, c).archived_cert(old.serial),
            old.serial,
        )
        for credential, (c, _), old in zip(credentials, chosen, olds)
    ) + tuple(Renewal(credential, None, None) for credential in credentials[len(members) :])


def _refuse_owner_held(user, chosen):
    """Certificates signed from their owner's request (sign --csr on several contexts) are for a key
    that never came here: only its owner renews them (renew --self), or a new request is signed."""
    if any(entry.key_held_by == "owner" for _, entry in chosen):
        raise InvalidInput(
            f"the key of {user!r} is held by its owner (signed from their request): only they can "
            "renew it, with `kubectl usercert renew --self` on their machine",
            hint="or sign a new request of theirs: kubectl usercert sign --csr FILE --user "
            f"{user} --context ... --force (they make it with `kubectl usercert request`)",
        )


def _checked_files(user_files, user, chosen, rekey):
    """The certificate in place for each chosen cluster, which must be the one its record names,
    for this user and for the key in the folder."""
    olds, keys = [], {}
    for cluster, entry in chosen:
        place = clusters.cluster_files(user_files, cluster)
        missing = [p for p in (place.cert, user_files.kubeconfig) if not os.path.isfile(p)]
        missing += [] if rekey or os.path.isfile(place.key) else [place.key]
        if missing:
            raise InvalidInput(
                f"cannot renew {user!r} on {cluster}: {', '.join(missing)} missing",
                hint="renew needs the folder 'create' wrote; re-create the user with create --force",
            )
        old = openssl.certificate_info(place.cert)
        if old.common_name != user or old.fingerprint_hex != entry.fingerprint_hex:
            raise InvalidInput(
                f"{place.cert} is not the latest certificate issued to {user!r} on {cluster} "
                f"(that is serial {entry.serial})",
                hint="the folder was changed by hand: put it back, or re-create the user with "
                "create --force",
            )
        if not rekey:
            if place.key not in keys:
                keys[place.key] = openssl.public_key_of_key(place.key)
            if keys[place.key] != old.public_key:
                raise InvalidInput(
                    f"{place.cert} is not for the key {place.key}",
                    hint="the folder was changed by hand; renew --rekey, or re-create the user",
                )
        olds.append(old)
    return olds


def _member(signing, cluster, entry, subject, signer_given, progress):
    """The Member that renews one cluster: signed as its record says unless the command line names
    a signer (for every cluster, or with CONTEXT=FILE for this one)."""
    own = signing.for_context(entry.context)
    named = signer_given or own.ca_cert != signing.ca_cert or own.ca_key != signing.ca_key
    on = lambda message: progress(f"{cluster}: {message}")  # noqa: E731
    if not named and entry.signer == "local" and entry.ca_cert and entry.ca_key:
        gone = [path for path in (entry.ca_cert, entry.ca_key) if not os.path.isfile(path)]
        if gone:
            raise InvalidInput(
                f"the CA that issued {subject.user!r} on {cluster} is gone: {' and '.join(gone)} not found",
                hint=f"give it with --ca-cert {entry.context}=FILE --ca-key {entry.context}=FILE",
            )
        options = replace(own, kind="local", ca_cert=entry.ca_cert, ca_key=entry.ca_key)
        place = fleet.FleetCluster(entry.context, cluster, own.kubectl, None)
    else:
        place = _reached(signing, cluster, entry)
        kind = own.kind if named else entry.signer or "auto"
        [options] = per_cluster.for_clusters(replace(own, kind=kind), [place], on)
    if entry.approval == "self":
        options = replace(options, approve=True)
    signer = SignerChooser(options).choose(subject, progress=on)
    if (
        not named
        and entry.ca_fingerprint_sha256
        and signer.ca_fingerprint
        and entry.ca_fingerprint_sha256 != signer.ca_fingerprint
    ):
        raise InvalidInput(
            f"the CA found is not the one that issued {subject.user!r} on {cluster} "
            f"(fingerprint {entry.ca_fingerprint_sha256[:23]}...)",
            hint=f"give that CA with --ca-cert {entry.context}=FILE --ca-key {entry.context}=FILE",
        )
    return Member(place, signer)


def _reached(signing, cluster, entry):
    """The FleetCluster of the context a cluster's certificate was issued through, which must still
    reach the server it was issued for."""
    [found] = fleet.resolve(signing.kubectl, (entry.context,))
    if entry.server and found.endpoint.server != entry.server:
        raise InvalidInput(
            f"context {entry.context!r} now reaches {found.endpoint.server}, and the certificate on "
            f"{cluster} was issued for {entry.server}",
            hint="point --kubeconfig at the admin kubeconfig it was issued through",
        )
    return replace(found, name=cluster, endpoint=replace(found.endpoint, name=cluster))


def _named_apart(add, state):
    """The Members to add, each cluster named apart from the person's others (a name is a key in
    their kubeconfig and files): a name taken gets -2, -3, ... (a cluster revoked before and now
    back keeps its name)."""
    named = []
    for member in add:
        context = member.cluster.context
        taken = {n for n, e in state.items() if e.event != "revoked" or e.context != context}
        taken |= {m.cluster.name for m in named}
        name, number = member.cluster.name, 1
        while name in taken:
            number += 1
            name = f"{member.cluster.name}-{number}"
        cluster = replace(
            member.cluster, name=name, endpoint=replace(member.cluster.endpoint, name=name)
        )
        named.append(Member(cluster, member.signer))
    return named


def _signed(places, members, subjects, validities, spec, rekey, shared, progress):
    """Each cluster's new certificate: for the one key (a request per subject, signed by each
    cluster's signer), or for each cluster's own key (a new one with --rekey)."""
    requests, infos = {}, []
    for index, (place, member, subject, validity) in enumerate(
        zip(places, members, subjects, validities)
    ):
        on = lambda message, name=member.cluster.name: progress(f"{name}: {message}")  # noqa: E731
        arguments = dict(subject=subject, key=spec, signer=member.signer, validity=validity)
        try:
            if not shared:
                if rekey and os.path.lexists(place.key):
                    os.unlink(place.key)
                fresh = not os.path.isfile(place.key)
                infos.append(
                    (new_key_signed if fresh else key_signed)(place, progress=on, **arguments)
                )
                continue
            if subject.openssl_subj() not in requests:
                public_key = openssl.make_csr(place.key, subject, place.csr)
                requests[subject.openssl_subj()] = (files.read_bytes(place.csr), public_key)
                os.unlink(place.csr)
            request, public_key = requests[subject.openssl_subj()]
            files.write_private(place.csr, request)
            infos.append(request_signed(place, public_key=public_key, progress=on, **arguments))
        except UsercertError as exc:
            raise failed_on(subject.user, members, index, exc, verb="renewed") from None
    return infos


def _update_kubeconfig(staged, user, members, places, chosen, new, rekey):
    """The person's kubeconfig with each renewed user's certificate (and key) replaced, and a
    cluster, user and context for each new cluster."""
    config = user_kubeconfig.replace_many(
        staged.kubeconfig,
        {
            user_kubeconfig.context_name(user, cluster): (
                files.read_bytes(place.cert),
                files.read_bytes(place.key) if rekey else None,
            )
            for (cluster, _), place in zip(chosen, places)
        },
    )
    if new:
        added = user_kubeconfig.build_many(
            user,
            [
                (m.cluster.endpoint, files.read_bytes(p.cert), files.read_bytes(p.key))
                for m, p in zip(new, places[len(chosen) :])
            ],
        )
        for kind in ("clusters", "users", "contexts"):
            config[kind] = list(config.get(kind) or []) + added[kind]
    os.unlink(staged.kubeconfig)
    files.write_private(staged.kubeconfig, user_kubeconfig.dump(config))
