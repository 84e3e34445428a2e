"""A certificate taken in on the person's machine (`import`, and the end of `request --submit` and
`renew --self`): read from a bundle, checked against the key and the request in the person's
store, and installed: into the store (the source of truth) and merged into their kubeconfig.

A bundle is a kubeconfig (`kind: Config`) with a cluster, a user and a context per cluster, the
user holding `client-certificate-data` and no key (what `sign` writes); a kubeconfig `create` made
(its key included) is taken too, the key going into the store, with a warning that it was made
elsewhere. Nothing but the cluster's address and CA and the certificate (and that key) is taken
from a bundle: a token, an exec entry or a file path in it is refused.
"""

import base64
import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Optional

from .. import signals
from ..cluster import person_kubeconfig, user_kubeconfig
from ..cluster.endpoint import ClusterEndpoint, check_carried
from ..cluster.kubeconfig import (
    CLUSTER_FIELDS,
    CONTEXT_FIELDS,
    USER_FIELDS,
    decode_data,
    named_entries,
    read_document,
)
from ..errors import InvalidInput
from ..output.results import PersonCredential
from ..pki import openssl
from ..pki.certificate import BACKDATE, pem_certificates, public_key_fingerprint
from ..pki.subject import group_list
from ..store.ledger import lifetime_of_window
from ..store.person import credential_name
from ..times import duration_text, iso

_CLUSTER_TAKEN = (
    "server",
    "certificate-authority-data",
    "tls-server-name",
    "proxy-url",
    "insecure-skip-tls-verify",
    "disable-compression",
)
_USER_TAKEN = ("client-certificate-data", "client-key-data")


@dataclass(frozen=True, eq=False, repr=False)
class BundleCredential:
    """One context of a bundle: its cluster entry, and the certificate (and key) of its user."""

    source: str  # the bundle, as named
    context: str
    cluster: str
    cluster_entry: dict
    cert_pem: bytes
    key_pem: Optional[bytes] = None
    namespace: Optional[str] = None


@dataclass(frozen=True, eq=False, repr=False)
class CheckedCredential:
    bundled: BundleCredential
    info: object  # CertificateInfo
    key_fingerprint: str
    key_pem: bytes
    made_elsewhere: bool  # the key came in the bundle, not from this store

    @property
    def user(self):
        return self.info.common_name

    @property
    def name(self):
        return credential_name(self.user, self.bundled.cluster)


def read_bundle(path):
    """The BundleCredentials of a bundle (its current context first); `-` reads stdin."""
    document = read_document("/dev/stdin" if path == "-" else path)
    hint = "import the kubeconfig that `kubectl usercert sign` wrote (OUT_DIR/USER/kubeconfig)"
    entries = {
        kind: dict(named_entries(document, kind, fields, path))
        for kind, fields in (
            ("clusters", CLUSTER_FIELDS),
            ("users", USER_FIELDS),
            ("contexts", CONTEXT_FIELDS),
        )
    }
    names = list(entries["contexts"])
    if not names:
        raise InvalidInput(f"the bundle {path} holds no context", hint=hint)
    current = document.get("current-context")
    if current in names:
        names.remove(current)
        names.insert(0, current)
    return [_bundled(path, name, entries, hint) for name in names]


def _bundled(path, name, entries, hint):
    context = entries["contexts"][name]
    cluster, user = context.get("cluster"), context.get("user")
    if cluster not in entries["clusters"] or user not in entries["users"]:
        raise InvalidInput(
            f'the bundle {path}: context "{name}" names a cluster or user it does not hold',
            hint=hint,
        )
    cluster_entry, credentials = entries["clusters"][cluster], entries["users"][user]
    odd = sorted(set(credentials) - set(_USER_TAKEN)) + sorted(
        set(cluster_entry) - set(_CLUSTER_TAKEN)
    )
    if odd or not credentials.get("client-certificate-data"):
        said = f"holds {', '.join(odd)}" if odd else "has no client-certificate-data"
        raise InvalidInput(
            f'the bundle {path}: context "{name}" {said}; import takes a certificate and the '
            "cluster's address and CA, nothing else",
            hint=hint + "; a file path can be inlined with: kubectl config view --flatten",
        )
    check_carried(
        ClusterEndpoint(
            name=cluster,
            server=cluster_entry.get("server") or "",
            tls_server_name=cluster_entry.get("tls-server-name"),
            proxy_url=cluster_entry.get("proxy-url"),
            source=path,
        )
    )
    key = credentials.get("client-key-data")
    return BundleCredential(
        path,
        name,
        cluster,
        dict(cluster_entry),
        decode_data(credentials["client-certificate-data"]),
        decode_data(key) if key else None,
        context.get("namespace"),
    )


def checked(store, bundled):
    """A CheckedCredential: the certificate read, its key found in the store by its public key (or
    taken from the bundle), and the certificate checked to be for that key, to name the user and
    exactly the groups requested with it, to allow client authentication, and to be valid now."""
    where = f'the certificate of context "{bundled.context}" in {bundled.source}'
    blocks = pem_certificates(bundled.cert_pem)
    if len(blocks) != 1:
        # (a second would reach the kubeconfig unchecked: kubectl sends it along, as a chain)
        raise InvalidInput(
            f"{where} holds {len(blocks)} certificates, not one",
            hint="import the bundle `kubectl usercert sign` wrote: it holds the user's certificate "
            "alone",
        )
    bundled = replace(bundled, cert_pem=blocks[0])
    info = openssl.certificate_info(data=bundled.cert_pem, what=where)
    fingerprint = public_key_fingerprint(info.public_key)
    key_pem = bundled.key_pem if bundled.key_pem is not None else store.read_key(fingerprint)
    if key_pem is None:
        raise InvalidInput(
            f"{where} is for a key this store does not hold (public key SHA-256 "
            f"{fingerprint[:16]}...): it was made for someone else's key, or on another machine",
            hint="import it where `kubectl usercert request` made the key, as the same user "
            f"(the store is {store.root})",
        )
    said = openssl.public_key_of_key(data=key_pem, what="the key of " + where)
    if said != info.public_key:
        raise InvalidInput(
            f"{where} is not for the key "
            + ("in the bundle" if bundled.key_pem else store.key_path(fingerprint)),
            hint="the bundle or the store was changed; ask for a new bundle",
        )
    _check_subject(where, info, store.read_request(fingerprint))
    _check_usable(where, info)
    return CheckedCredential(bundled, info, fingerprint, key_pem, bundled.key_pem is not None)


def _check_subject(where, info, requested):
    others = sorted({attribute for attribute, _ in info.subject} - {"CN", "O"})
    if others or not info.common_name or len(info.subject) != 1 + len(info.organizations):
        raise InvalidInput(
            f"{where} has a subject this tool does not issue ({', '.join(others) or 'no single CN'})",
            hint="ask the admin for a bundle signed by `kubectl usercert sign`",
        )
    if requested is None:
        return
    if info.common_name != requested.get("user"):
        raise InvalidInput(
            f"{where} is for user {info.common_name!r}, but the key was requested for "
            f"{requested.get('user')!r}",
            hint="ask the admin to sign the request as it was made (sign --user USER)",
        )
    asked = list(requested.get("groups") or [])
    extra = [group for group in info.organizations if group not in asked]
    missing = [group for group in asked if group not in info.organizations]
    if extra or missing or len(info.organizations) != len(asked):
        said = (
            f"names groups that were not requested: {group_list(extra, ', ')}"
            if extra
            else f"lacks groups that were requested: {group_list(missing, ', ') or '(repeated)'}"
        )
        raise InvalidInput(
            f"{where} {said}",
            hint="ask the admin to sign the request with exactly its groups (sign -g GROUP ...)",
        )


def _check_usable(where, info):
    now = datetime.now(timezone.utc)
    if not info.allows_client_auth or info.is_ca:
        raise InvalidInput(
            f"{where} is {'a CA certificate' if info.is_ca else 'not for client authentication'}",
            hint="ask the admin for a bundle signed by `kubectl usercert sign`",
        )
    if not info.not_before - BACKDATE <= now < info.not_after:
        raise InvalidInput(
            f"{where} is not valid now ({info.not_before:%Y-%m-%d %H:%M}Z to "
            f"{info.not_after:%Y-%m-%d %H:%M}Z)",
            hint="check this machine's clock, or ask for a new certificate",
        )


def install(
    *,
    store,
    kubeconfig,
    credentials,
    force=False,
    set_current=False,
    cluster_entries=None,
    exec_plugin=False,
    renew_before=None,
):
    """Put checked credentials into the store and merge them into `kubeconfig` (a
    person_kubeconfig.KubeconfigFile): a cluster (`cluster_entries` {name: body} overrides the
    bundle's, as --submit reuses the person's own), a user and a context USER@CLUSTER each (the
    user holding the certificate and key, or with `exec_plugin` running the credential plugin,
    which renews `renew_before` the end). One step as far as a signal goes; if the kubeconfig cannot
    be written, the store is put back. ([PersonCredential], the backup's path or None)."""
    entries, first = [], None
    for credential in credentials:
        check_renew_before(renew_before, credential.info)
    for credential in credentials:
        bundled = credential.bundled
        name = user_kubeconfig.context_name(credential.user, bundled.cluster)
        context = {"cluster": bundled.cluster, "user": name}
        if bundled.namespace:
            context["namespace"] = bundled.namespace
        cluster_body = (cluster_entries or {}).get(bundled.cluster, bundled.cluster_entry)
        entries += [
            ("clusters", bundled.cluster, cluster_body),
            (
                "users",
                name,
                exec_user(name)
                if exec_plugin
                else user_entry(bundled.cert_pem, credential.key_pem),
            ),
            ("contexts", name, context),
        ]
        first = first or name
    # (a kubeconfig with no current context gets the first: kubectl would use nothing else)
    current = dict(current=first, only_if_no_current=not set_current)
    person_kubeconfig.merged(kubeconfig, entries, force=force)  # (refused before anything changes)
    with signals.critical():
        saved = {c.name: store.snapshot(c.name) for c in credentials}
        keys_added = [
            c.key_fingerprint
            for c in credentials
            if c.made_elsewhere and store.read_key(c.key_fingerprint) is None
        ]
        try:
            for credential in credentials:
                if credential.made_elsewhere:
                    store.save_key(credential.key_fingerprint, credential.key_pem)
                state = state_of(credential, kubeconfig, renew_before=renew_before)
                store.save_credential(credential.name, credential.bundled.cert_pem, state)
            backup = person_kubeconfig.write(kubeconfig, entries, force=force, **current)
        except BaseException:
            for name, files_before in saved.items():
                store.restore(name, files_before)
            for fingerprint in keys_added:
                store.remove_key(fingerprint)
            raise
        signals.record(f"wrote {kubeconfig.shown}")
    return [described(c, store) for c in credentials], backup


def user_entry(cert_pem, key_pem):
    """The kubeconfig user of a credential: the certificate and key inlined (import --exec writes
    an exec entry that reads the store instead: exec_user)."""
    return {
        "client-certificate-data": base64.b64encode(cert_pem).decode("ascii"),
        "client-key-data": base64.b64encode(key_pem).decode("ascii"),
    }


def exec_user(name):
    """The kubeconfig user that runs the credential plugin for the store's credential `name`
    (USER@CLUSTER): kubectl asks it for the certificate and key on each call."""
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "kubectl-usercert",
            "args": ["credential", "--credential", name],
            "interactiveMode": "Never",
            "provideClusterInfo": False,
        }
    }


def check_renew_before(renew_before, info):
    """A renewBefore must be shorter than the lifetime (else the plugin would renew at every call)."""
    if renew_before is not None and renew_before >= info.not_after - info.not_before:
        raise InvalidInput(
            f"--renew-before {duration_text(renew_before)} is not shorter than the certificate's "
            f"lifetime ({duration_text(info.not_after - info.not_before)}): it would renew at once",
            hint="leave it out (a third of the lifetime), or give a shorter duration",
        )


def state_of(credential, kubeconfig, pending=None, renewed=False, renew_before=None):
    """state.json of an installed credential (see store/person.py); renewBefore as given, else a
    third of the lifetime."""
    info, bundled = credential.info, credential.bundled
    lifetime = lifetime_of_window(info.not_before, info.not_after) or (
        info.not_after - info.not_before
    )
    renew_before = renew_before or timedelta(minutes=lifetime // timedelta(minutes=1) // 3)
    return {
        "user": credential.user,
        "groups": list(info.organizations),
        "cluster": bundled.cluster,
        "server": bundled.cluster_entry.get("server"),
        "context": user_kubeconfig.context_name(credential.user, bundled.cluster),
        "kubeconfig": os.path.abspath(kubeconfig.shown),
        "keyFingerprint": credential.key_fingerprint,
        "serial": info.serial,
        "fingerprintSHA256": info.fingerprint_sha256,
        "notBefore": iso(info.not_before),
        "notAfter": iso(info.not_after),
        "lifetime": duration_text(lifetime),
        "renewBefore": duration_text(renew_before),
        "pendingRequest": pending,
        "keyMadeElsewhere": credential.made_elsewhere,
        ("renewedAt" if renewed else "importedAt"): iso(datetime.now(timezone.utc)),
    }


def described(credential, store):
    info, bundled = credential.info, credential.bundled
    return PersonCredential(
        user=credential.user,
        groups=info.organizations,
        context=user_kubeconfig.context_name(credential.user, bundled.cluster),
        cluster=bundled.cluster,
        server=bundled.cluster_entry.get("server") or "",
        namespace=bundled.namespace,
        serial=info.serial,
        not_before=info.not_before,
        not_after=info.not_after,
        key_type=info.key_type,
        key_bits=info.key_bits,
        fingerprint_sha256=info.fingerprint_sha256,
        key_fingerprint=credential.key_fingerprint,
        store=store.credential_dir(credential.name),
    )
