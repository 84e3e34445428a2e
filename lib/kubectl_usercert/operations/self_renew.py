"""`renew --self`: a person renews their own credential while it is still valid, with nothing in the
cluster but its CSR API, as a kubelet renews its client certificate.

The credential is the one a context of their kubeconfig uses, as the store knows it (import put it
there). A new key (the same type and size; --keep-key reuses the key), a request for exactly the
same subject filed as themselves under the one name their renewals use (so the admin can narrow
get and delete to it), a wait for someone to approve it, and the certificate checked (its key, its
subject, client auth) and tried against the cluster (SelfSubjectReview with the new credential)
before anything changes. Then the store and the kubeconfig take it in one step; the previous
certificate is kept in the store until then, and its key removed after (unless something else
still uses it).
"""

from contextlib import nullcontext
from datetime import datetime, timezone

from .. import signals
from ..cluster import identity, person_kubeconfig
from ..cluster.endpoint import resolve_endpoint
from ..cluster.kubeconfig import decode_data, kubeconfig_paths, load_merged, read_document
from ..cluster.kubectl import failure, kind_of
from ..errors import InvalidInput, UsercertError
from ..output.results import CredentialsInstalled
from ..pki import openssl
from ..pki.keys import key_spec, spec_of
from ..pki.signers.cluster_csr import (
    CSR_RESOURCE,
    POLL_SECONDS,
    SELF_RENEWAL,
    ClusterCSRSigner,
    self_renewal_name,
)
from ..pki.subject import make_subject
from ..store.layout import file_safe
from ..store.ledger import lifetime_of_window
from ..store.person import PersonStore
from ..times import parse_duration
from . import plugin_renewal
from .import_credential import (
    BundleCredential,
    CheckedCredential,
    check_renew_before,
    described,
    exec_user,
    state_of,
)
from .import_credential import user_entry as inline_user
from .interrupted_renewal import REIMPORT, finish_swap
from .person_request import confirm_accepted, filed_through_cluster, forget_request, new_key_request

BACKGROUND_POLL_SECONDS = 3.0  # a renewal in the background asks the cluster less often


def renew_self(
    *,
    kubeconfig=None,
    context=None,
    keep_key=False,
    key_type=None,
    key_size=None,
    wait_seconds=300.0,
    timeout=30.0,
    credential=None,
    background=False,
    exec_plugin=False,
    renew_before=None,
    progress,
):
    """Renew the credential of `context` (default: the current one) of the person's kubeconfig
    (`kubeconfig`, else kubectl's files), or the store's `credential` (USER@CLUSTER, through the
    kubeconfig and context it was imported into); the new key of `key_type` and `key_size` (default:
    the current key's). `background`: as the credential plugin starts it, waiting no longer than the
    certificate lasts. `exec_plugin`: the kubeconfig's user becomes the credential plugin;
    `renew_before`: when the plugin renews next (default: as before). A CredentialsInstalled."""
    store = PersonStore.open()
    named = file_safe(credential) if credential else None
    if named and store.read_state(named) is None:
        raise InvalidInput(
            f'no credential "{credential}" in your store ({store.root})',
            hint="renew --self renews what `kubectl usercert import` installed: import its bundle first",
        )
    # (named: the turn is taken first, so that whatever fails, the plugin is told when to retry)
    with plugin_renewal.renewal_turn(store, named) if named else nullcontext():
        found = _credential_of(store, kubeconfig, context, credential)
        with nullcontext() if named else plugin_renewal.renewal_turn(store, found["name"]):
            if background:
                left = (found["info"].not_after - datetime.now(timezone.utc)).total_seconds()
                wait_seconds = max(1.0, min(wait_seconds, left))
            with plugin_renewal.cluster_access(
                store=store, found=found, kubeconfig=found["kubeconfig"], timeout=timeout
            ) as kubectl:
                return _renewed(
                    store=store,
                    found=found,
                    kubectl=kubectl,
                    kubeconfig=found["kubeconfig"],
                    keep_key=keep_key,
                    key_type=key_type,
                    key_size=key_size,
                    wait_seconds=wait_seconds,
                    poll_seconds=BACKGROUND_POLL_SECONDS if background else POLL_SECONDS,
                    exec_plugin=exec_plugin,
                    renew_before=renew_before,
                    progress=progress,
                )


def _renewed(
    *,
    store,
    found,
    kubectl,
    kubeconfig,
    keep_key,
    key_type,
    key_size,
    wait_seconds,
    poll_seconds,
    exec_plugin,
    renew_before,
    progress,
):
    state, cert_pem, info, holder = found["state"], found["cert"], found["info"], found["file"]
    check_renew_before(renew_before, info)
    user, cluster = info.common_name, state.get("cluster") or ""
    subject = make_subject(user, info.organizations)
    old_fingerprint = state.get("keyFingerprint") or ""
    old_key = store.read_key(old_fingerprint)
    if old_key is None:
        raise InvalidInput(
            f"the key of {found['name']} is not in the store ({store.key_path(old_fingerprint)})",
            hint=REIMPORT,
        )
    name = self_renewal_name(user)
    _check_rights(kubectl, user, cluster, name, progress)
    lifetime = _lifetime(state, info)
    new = None
    if keep_key:
        request_pem, public_key = openssl.request_and_public_key(old_key, subject)
        key_pem, spec = old_key, spec_of(info.key_type, info.key_bits)
    else:
        new = new_key_request(
            store=store,
            subject=subject,
            key=_new_key(info, key_type, key_size),
            purpose="self-renewal",
            progress=progress,
        )
        request_pem, public_key, spec = new.request_pem, new.public_key, new.spec
        key_pem = store.read_key(new.fingerprint)
    signer = ClusterCSRSigner(
        kubectl,
        user,
        wait_seconds=wait_seconds,
        poll_seconds=poll_seconds,
        progress=progress,
        name=name,
        labels=SELF_RENEWAL,
        approver=f"ask your cluster admin to run: kubectl certificate approve {name}",
    )
    try:
        store.save_credential(found["name"], cert_pem, {**state, "pendingRequest": name})
        _withdraw_stale(kubectl, name, progress)
        new_pem, new_info = filed_through_cluster(
            signer=signer,
            request_pem=request_pem,
            spec=spec,
            validity=lifetime,
            public_key=public_key,
            subject=subject,
            progress=progress,
        )
        confirm_accepted(
            signer=signer,
            store=store,
            endpoint=resolve_endpoint(kubeconfig, found["context"]),
            user=user,
            cert_pem=new_pem,
            key_pem=key_pem,
            subject=subject,
        )
    except BaseException:
        if new is not None:
            forget_request(store, new.fingerprint)
        store.save_credential(found["name"], cert_pem, {**state, "pendingRequest": None})
        raise
    renewed = CheckedCredential(
        BundleCredential(
            "the cluster's answer",
            found["context"],
            cluster,
            {"server": state.get("server")},
            new_pem,
        ),
        new_info,
        new.fingerprint if new else old_fingerprint,
        key_pem,
        False,
    )
    renew_before = _renew_before(renew_before, state, renewed.info)
    _swap(
        store, found, holder, renewed, old_fingerprint if new else None, exec_plugin, renew_before
    )
    return CredentialsInstalled(
        credentials=(described(renewed, store),),
        kubeconfig=holder.shown,
        request_name=name,
        previous_serial=info.serial,
        warnings=tuple(signer.notes),
    )


def imported_with(kubeconfig=None, context=None):
    """The contexts to renew when none is named: the current one's (`context`), then every other
    context of the person's kubeconfig whose credential the store holds for the same key and user
    (a bundle of several clusters, imported at once); a lone credential is just that context."""
    store = PersonStore.open()
    found = _credential_of(store, kubeconfig, context)
    key, user = found["state"].get("keyFingerprint"), found["info"].common_name
    merged = load_merged(kubeconfig_paths(kubeconfig))
    siblings = []
    for name, entry in merged.contexts.items():
        state = store.read_state(file_safe(entry.get("user") or "")) if entry.get("user") else None
        if name != found["context"] and state and state.get("keyFingerprint") == key:
            if (state.get("user") or user) == user:
                siblings.append(name)
    return [found["context"], *siblings]


def _new_key(info, key_type, key_size):
    current = spec_of(info.key_type, info.key_bits)
    if not key_type and not key_size:
        return current
    spec = key_spec(key_type or current.type, key_size)
    openssl.require_key_support(spec)
    return spec


def _credential_of(store, kubeconfig, context, credential=None):
    """The credential the context uses (or `credential`, through the kubeconfig and context it was
    imported into): its name in the store, its state and certificate, the kubeconfig file that
    defines its user, checked to hold that same certificate or to run the plugin for it."""
    if credential:
        state = store.read_state(file_safe(credential)) or {}
        kubeconfig = kubeconfig or state.get("kubeconfig")
        context = context or state.get("context")
    paths = kubeconfig_paths(kubeconfig)
    if not paths:
        raise InvalidInput(
            "no kubeconfig found, so there is no credential to renew",
            hint="pass --kubeconfig FILE (and --context NAME)",
        )
    merged = load_merged(paths)
    shown = ", ".join(paths)
    context = context or merged.current_context
    if not context or context not in merged.contexts:
        raise InvalidInput(
            f'context "{context}" not found in {shown}'
            if context
            else f"no current context in {shown}",
            hint="pick the context of your credential with --context NAME (kubectl config get-contexts)",
        )
    user_entry = merged.contexts[context].get("user") or ""
    name = file_safe(user_entry)
    if credential and name != file_safe(credential):
        raise InvalidInput(
            f'context "{context}" of {shown} no longer uses the credential {credential}',
            hint="renew it through the context that uses it: renew --self --context NAME",
        )
    state = store.read_state(name) if user_entry else None
    cert_pem = store.read_certificate(name, state) if state else None
    if state is None or cert_pem is None:
        raise InvalidInput(
            f'the user "{user_entry}" of context "{context}" is not in your store ({store.root})',
            hint="renew --self renews what `kubectl usercert import` installed: import its bundle first",
        )
    holder = next(
        path
        for path in paths
        if person_kubeconfig.entry(read_document(path), "users", user_entry) is not None
    )
    kubeconfig_file = person_kubeconfig.open_for_change(holder)
    body = person_kubeconfig.entry(kubeconfig_file.document, "users", user_entry)
    inline = body.get("client-certificate-data")
    plugin = body == exec_user(user_entry)
    held = decode_data(inline) if inline and not plugin else None
    if held and held != cert_pem and store.is_previous(name, held):
        kubeconfig_file = finish_swap(store, state, cert_pem, kubeconfig_file, user_entry, holder)
    elif not plugin and held != cert_pem:
        raise InvalidInput(
            f'the kubeconfig {holder}: user "{user_entry}" holds another certificate than your store',
            hint=REIMPORT,
        )
    info = openssl.certificate_info(data=cert_pem, what=f"the certificate of {user_entry}")
    if info.not_after <= datetime.now(timezone.utc):
        raise UsercertError(
            f"the certificate of {user_entry} expired on {info.not_after:%Y-%m-%d %H:%M}Z: an "
            "expired certificate cannot renew itself",
            hint=f"make a new request (kubectl usercert request {info.common_name} ...) and have "
            "the admin sign it",
        )
    if len(info.subject) != 1 + len(info.organizations) or not info.common_name:
        raise InvalidInput(
            f"the certificate of {user_entry} has a subject this tool does not issue",
            hint="make a new request (kubectl usercert request USER GROUP...)",
        )
    return dict(
        name=name,
        state=state,
        cert=cert_pem,
        info=info,
        file=kubeconfig_file,
        context=context,
        user_entry=user_entry,
        kubeconfig=kubeconfig,
        plugin=plugin,
    )


def _check_rights(kubectl, user, cluster, name, progress):
    """The person must be allowed to create requests and to read back (and withdraw) theirs: say
    what the admin must grant, in one line, before any key is made."""
    progress("Checking that you may file your renewal")
    may_create = identity.can_i(kubectl, "create", CSR_RESOURCE)
    may_read = identity.can_i(kubectl, "get", CSR_RESOURCE, name)
    if may_create is False or may_read is False:
        raise UsercertError(
            f"{user} may not {'file' if may_create is False else 'read back'} certificate signing "
            f"requests on cluster {cluster}: the admin must grant {user} create on "
            f"certificatesigningrequests (certificates.k8s.io), and get and delete on the one named {name}",
            hint=f"until then the admin renews by signing a new request: kubectl usercert request {user} ...",
        )


def _withdraw_stale(kubectl, name, progress):
    """One self-renewal per user and cluster: a request of that name left by an earlier run goes."""
    answer = kubectl.run(["delete", CSR_RESOURCE, name, "--ignore-not-found", "--wait=false"])
    if answer.ok and answer.stdout.strip():
        progress(f"Withdrew an earlier request {name}")
    elif not answer.ok and kind_of(answer.stderr) not in ("forbidden", "missing"):
        raise failure(f"withdraw the earlier request {name}", answer.stderr)


def _lifetime(state, info):
    try:
        return parse_duration(state.get("lifetime") or "", "the recorded lifetime")
    except InvalidInput:
        return lifetime_of_window(info.not_before, info.not_after) or (
            info.not_after - info.not_before
        )


def _renew_before(asked, state, info):
    """What the plugin's renewBefore becomes: as asked, else as it was; but a renewBefore of more
    than half the new certificate's lifetime (which would renew it again before it is half used:
    "renew right away") applies once, and the renewed certificate gets the default (None: a third
    of its lifetime, as state_of says)."""
    if asked is not None:
        return asked
    try:
        kept = parse_duration(state.get("renewBefore") or "", "renewBefore", default_unit="m")
    except InvalidInput:
        return None
    return kept if kept * 2 <= info.not_after - info.not_before else None


def _swap(store, found, holder, renewed, old_fingerprint, exec_plugin, renew_before):
    """The store and the kubeconfig take the new certificate (and key) in one step; the previous
    certificate is kept until both have it, and its key is removed after when nothing else uses it.
    A kubeconfig whose user runs the plugin stays as it is (the plugin reads the store)."""
    if exec_plugin or found["plugin"]:
        body = exec_user(found["user_entry"])
    else:
        body = person_kubeconfig.entry(holder.document, "users", found["user_entry"])
        body = {**body, **inline_user(renewed.bundled.cert_pem, renewed.key_pem)}
    changed = person_kubeconfig.entry(holder.document, "users", found["user_entry"]) != body
    state = {
        **state_of(renewed, holder, renewed=True, renew_before=renew_before),
        "context": found["context"],
        "kubeconfig": found["state"].get("kubeconfig"),
    }
    state["importedAt"] = found["state"].get("importedAt")
    with signals.critical():
        before = store.snapshot(found["name"])
        store.keep_previous(found["name"], found["info"].serial, found["cert"])
        try:
            store.save_credential(found["name"], renewed.bundled.cert_pem, state)
            if changed:  # (merged into the file as it is then: see person_kubeconfig.write)
                person_kubeconfig.write(
                    holder, [("users", found["user_entry"], body)], force=True, backup=False
                )
        except BaseException:
            store.restore(found["name"], before)
            raise
        signals.record(f"renewed the credential of {found['user_entry']} in {holder.shown}")
        store.clear_previous(found["name"])
        if old_fingerprint and not store.key_in_use(old_fingerprint, besides=found["name"]):
            forget_request(store, old_fingerprint)
