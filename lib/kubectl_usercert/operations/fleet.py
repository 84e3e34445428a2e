"""Issuing one person on several clusters (create --context A --context B, apply with
spec.clusters): one key (or one per cluster), a certificate from each cluster's own signer, one
kubeconfig with a cluster, a user and a context per cluster, and the folder moved into place with a
ledger line per cluster, appended in one write. The steps are issue.py's, cluster by cluster.

All or nothing per person: every cluster is checked before anything is made (the bindings it will
get, whether its CSR API answers and takes requests); a cluster that fails to sign stops the rest
(nothing more is filed anywhere), every request filed is withdrawn, and nothing is written or
recorded; the error says each cluster's part. Bindings are applied once every certificate is in
hand and written; a cluster that refuses them then is named, with the command that applies them.

A fleet person's folder, OUT_DIR/USER/:
  USER.key                 the one key (0600); none with --key-per-cluster
  clusters/CLUSTER.crt     each cluster's certificate (CLUSTER file-safe, as user names are)
  clusters/CLUSTER.key     with --key-per-cluster: each cluster's own key
  kubeconfig               cluster CLUSTER, user and context USER@CLUSTER for each; the first current
  rbac.yaml                the bindings made on every cluster
"""

import os
from contextlib import ExitStack
from dataclasses import replace

from .. import signals
from ..cluster import identity, rbac, user_kubeconfig
from ..cluster.kubeconfig import read_document
from ..cluster.kubectl import summary
from ..errors import UsercertError
from ..pki import openssl
from ..store import files, ledger, locks
from ..store.files import PRIVATE_DIR_MODE
from ..store.layout import file_safe
from .adopt import adopt
from .fleet_members import on_member
from .issue import (
    describe,
    endpoint_warnings,
    keep_bindings,
    ledger_entry,
    new_key_signed,
    refuse_or_adopt,
    request_signed,
)


def _silent(_message):
    pass


def ask_as(credential, kubectl, progress=_silent):
    """What one cluster says the new credential is (create --verify), through the person's own
    kubeconfig and that cluster's context in it."""
    progress(f"{credential.cluster}: asking the cluster who this credential is")
    return identity.ask(
        replace(
            kubectl, kubeconfig=credential.kubeconfig, context=credential.context, cluster=None
        ),
        credential.user,
        credential.groups,
    )


def issue_person(
    *,
    subject,
    members,
    out_dir,
    lifetime,
    key,
    key_per_cluster=False,
    pending_key=None,
    request=None,
    namespace=None,
    force=False,
    bindings=(),
    progress=_silent,
):
    """Credentials for `subject` on every Member's cluster, in OUT_DIR/USER (see the layout above),
    each signed for `lifetime` (a timedelta; a signer may grant less); with `force`, an existing folder
    is replaced. All of them, in one rename and one ledger write, or none. With `request` (a
    RequestInfo: the person's own, sign --csr), every cluster signs it: the key is its owner's, and
    neither the folder nor the kubeconfig holds one. `bindings` (RBAC manifests) are kept as rbac.yaml."""
    validities = [member.signer.grant(lifetime) for member in members]
    fleet = tuple(member.cluster.name for member in members)
    with locks.user_operation(out_dir, subject.user, progress) as user_files:
        if not force:
            refuse_or_adopt(out_dir, subject.user, user_files)
        else:  # what --force replaces stays on record
            adopt(out_dir, subject.user, user_files)
        with files.staged_dir(user_files.directory, force) as stage:
            staged = user_files.inside(stage.path)
            try:
                os.mkdir(staged.clusters, PRIVATE_DIR_MODE)
                os.chmod(staged.clusters, PRIVATE_DIR_MODE)
                places = [staged.for_cluster(m.cluster.name, key_per_cluster) for m in members]
                infos = _signed_everywhere(
                    staged,
                    places,
                    members,
                    validities,
                    subject,
                    key,
                    pending_key,
                    progress,
                    request,
                )
                write_kubeconfig(staged.kubeconfig, subject.user, members, places, namespace)
                confirm(staged.kubeconfig, members, subject, with_key=request is None)
                keep_bindings(staged, bindings)
                finals = [user_files.for_cluster(m.cluster.name, key_per_cluster) for m in members]
                credentials = [
                    credential_of(subject, info, user_files, final, member, namespace, lifetime)
                    for info, final, member in zip(infos, finals, members)
                ]
                owner = {"key_held_by": "owner"} if request is not None else {}
                if request is not None:
                    credentials = [replace(c, key=None) for c in credentials]
                entries = [
                    ledger_entry("issued", credential, member.signer, fleet=fleet, **owner)
                    for credential, member in zip(credentials, members)
                ]
                stage.commit(
                    record=lambda: ledger.append_all(out_dir, entries),
                    done=f"wrote {user_files.directory} ({len(members)} clusters)",
                )
            except BaseException as exc:
                withdraw(members, exc)
                raise
    return tuple(credentials)


def _signed_everywhere(
    staged, places, members, validities, subject, key, pending_key, progress, owners=None
):
    """Each cluster's certificate, in order, for the one key (one CSR, signed by every signer), or
    with --key-per-cluster (places with keys of their own) each for a key of its own; with `owners`
    (a RequestInfo), the owner's request signed by every signer (no key here)."""
    own_keys = places[0].key != staged.key
    with ExitStack() as pending:
        if owners is not None:
            request, public_key = owners.pem, owners.public_key
        elif own_keys:  # every key under way at once: key generation is the slow step
            keys = [pending_key or pending.enter_context(openssl.PendingKey(key))] + [
                pending.enter_context(openssl.PendingKey(key)) for _ in members[1:]
            ]
        else:
            progress(f"Generating {key.describe()} key (one for every cluster)")
            files.write_private(
                staged.key, pending_key.result() if pending_key else openssl.generate_key(key)
            )
            progress("Creating the certificate signing request")
            public_key = openssl.make_csr(staged.key, subject, staged.csr)
            request = files.read_bytes(staged.csr)
            os.unlink(staged.csr)
        infos = []
        for index, (member, place, validity) in enumerate(zip(members, places, validities)):
            step = on_member(member, progress)
            try:
                if own_keys:
                    info = new_key_signed(
                        place,
                        subject=subject,
                        key=key,
                        signer=member.signer,
                        validity=validity,
                        progress=step,
                        pending_key=keys[index],
                    )
                else:
                    files.write_private(place.csr, request)
                    info = request_signed(
                        place,
                        subject=subject,
                        key=key,
                        signer=member.signer,
                        validity=validity,
                        public_key=public_key,
                        progress=step,
                    )
            except UsercertError as exc:
                raise failed_on(subject.user, members, index, exc) from None
            infos.append(info)
    return infos


def failed_on(user, members, index, exc, verb="issued"):
    """The error when the cluster at `index` failed: what became of each cluster."""
    lines = []
    for position, member in enumerate(members):
        if position < index:
            said = (
                "signed, then withdrawn"
                if member.signer.name == "csr"
                else "signed here, then discarded"
            )
        elif position == index:
            said = "failed: " + summary(exc)
        else:
            said = "not asked"
        lines.append(f"{member.shown}: {said}")
    error = UsercertError(
        f"nothing was {verb} for {user}: {members[index].cluster.name} failed, and a person gets "
        "every cluster or none",
        details="\n".join(lines),
        hint="nothing was written or recorded, and every request filed was withdrawn; "
        + (exc.hint or "fix what the cluster said, or leave it out (--context)"),
    )
    error.kind = getattr(exc, "kind", None)
    return error


def withdraw(members, exc=None):
    """Take back what each cluster's signing left outside this machine (its request); what could not
    be is added to the error (or, on an interrupt, to what the run says it did)."""
    left = []
    for member in members:
        before = len(member.signer.notes)
        member.signer.withdraw()
        left += [f"{member.cluster.name}: {note}" for note in member.signer.notes[before:]]
    if left and isinstance(exc, UsercertError):
        exc.details = "\n".join(filter(None, [exc.details, *left]))
    elif left:
        for note in left:
            signals.record(note)


def write_kubeconfig(path, user, members, places, namespace):
    """The person's kubeconfig: a cluster, a user and a context per cluster (see build_many)."""
    config = user_kubeconfig.build_many(
        user,
        [
            (
                member.cluster.endpoint,
                files.read_bytes(place.cert),
                files.read_bytes(place.key) if os.path.exists(place.key) else None,
            )
            for member, place in zip(members, places)
        ],
        namespace,
    )
    if os.path.lexists(path):
        os.unlink(path)
    files.write_private(path, user_kubeconfig.dump(config))


def confirm(kubeconfig, members, subject, with_key=True):
    """Each cluster whose signer could not check the chain here (the CSR API, its client CA unknown)
    asked with the new credential itself, through a kubeconfig of that cluster alone made from the
    person's (staged) `kubeconfig`."""
    config = None
    for member in members:
        if member.signer.name != "csr" or member.signer.ca_cert_path:
            continue  # the chain was checked here
        if not with_key:  # (the key is its owner's: the signer says so)
            member.signer.confirm(kubeconfig, subject, with_key)
            continue
        config = config or read_document(kubeconfig)
        context = user_kubeconfig.context_name(subject.user, member.cluster.name)
        alone = os.path.join(
            os.path.dirname(kubeconfig), f".{file_safe(member.cluster.name)}.kubeconfig"
        )
        files.write_private(
            alone, user_kubeconfig.dump(user_kubeconfig.only_context(config, context))
        )
        try:
            member.signer.confirm(alone, subject)
        finally:
            os.unlink(alone)


def credential_of(subject, info, user_files, final, member, namespace, lifetime, entry=None):
    """The Credential of one cluster's certificate, where it will be once the folder is in place
    (`entry`: at renewal, the record it renews, for the server when no context was resolved)."""
    endpoint = member.cluster.endpoint
    notes = [member.cluster.note] if member.cluster.note else []
    credential = describe(
        subject,
        info,
        user_files,
        cluster=member.cluster.name,
        server=endpoint.server if endpoint is not None else entry.server,
        namespace=namespace,
        signer=member.signer,
        warnings=(endpoint_warnings(endpoint) if endpoint is not None else []) + notes,
        lifetime=lifetime,
        admin_context=member.cluster.context,
    )
    return replace(credential, certificate=final.cert, key=final.key)


def bind_everywhere(*, members, manifests, directory, print_rbac, progress=_silent):
    """The bindings of `manifests` (rbac.Binding), applied on every cluster unless `print_rbac`
    (after the credential was written), as access.applied_bindings does on one; a cluster that
    refuses them does not stop the others, and the error names each cluster's part."""
    if not manifests or print_rbac:
        return rbac.bindings_among(manifests)
    done, failed = [], {}
    for member in members:
        on_member(member, progress)("Applying the RBAC bindings")
        try:
            rbac.apply(member.cluster.kubectl, list(manifests))
            done.append(member)
        except UsercertError as exc:
            failed[member] = exc
        except BaseException:
            signals.record(
                "apply the bindings on the other clusters with: "
                + "; ".join(_apply_line(m, directory) for m in members if m not in done)
            )
            raise
    if failed:
        raise UsercertError(
            f"the credentials were written to {directory}, but the bindings could not be applied on "
            + ", ".join(m.cluster.name for m in failed),
            details="\n".join(
                f"{m.shown}: " + ("applied" if m in done else "failed: " + summary(failed[m]))
                for m in members
            ),
            hint="apply them there with: " + "; ".join(_apply_line(m, directory) for m in failed),
        )
    return rbac.bindings_among(manifests)


def _apply_line(member, directory):
    kubectl = member.cluster.kubectl
    where = f"--kubeconfig {kubectl.kubeconfig} " if kubectl.kubeconfig else ""
    return f"kubectl {where}--context {kubectl.context} apply -f {os.path.join(directory, 'rbac.yaml')}"
