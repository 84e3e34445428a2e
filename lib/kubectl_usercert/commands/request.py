"""`request USER [GROUP...]`, on the person's machine: a key in their own store and a certificate
signing request for it, in USER.csr for the admin to sign (`sign --csr`); or, with --submit, filed
through the person's own kubeconfig (an expiring certificate, an OIDC login, a bootstrap token),
waited for and imported. The key never leaves the store; only its public fingerprint is shown.
"""

import os
import shlex
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional, Tuple

from ..cluster import person_kubeconfig, user_kubeconfig
from ..cluster.endpoint import resolve_endpoint
from ..cluster.kubectl import Kubectl
from ..errors import InvalidInput
from ..operations import import_credential
from ..operations.issue import checked_subject
from ..operations.person_request import (
    confirm_accepted,
    filed_through_cluster,
    forget_request,
    new_key_request,
)
from ..output.results import CertificateRequested, CredentialsInstalled
from ..pki.keys import KeySpec
from ..pki.signers.cluster_csr import ClusterCSRSigner
from ..store import files
from ..store.layout import file_safe
from ..store.person import PersonStore


@dataclass(frozen=True, eq=False, repr=False)
class KeyRequest:
    user: str
    groups: Tuple[str, ...] = ()
    key: KeySpec = KeySpec()
    request_file: Optional[str] = None  # default USER.csr (none with --submit); "-": stdout
    force: bool = False  # replace the request file; with --submit, entries in the kubeconfig
    allow_system_masters: bool = False
    submit: bool = False
    kubeconfig: Optional[str] = None  # the person's, for --submit
    context: Optional[str] = None
    timeout: float = 30.0
    wait_seconds: float = 300.0
    validity: timedelta = timedelta(days=365)
    set_current: bool = False
    exec_plugin: bool = False  # with --submit: the kubeconfig's user runs the credential plugin
    renew_before: Optional[timedelta] = None


def request(order, progress=lambda _message: None):
    subject, warnings = checked_subject(
        order.user, order.groups, allow_system_masters=order.allow_system_masters, key=order.key
    )
    path = order.request_file or (None if order.submit else f"{file_safe(subject.user)}.csr")
    if path not in (None, "-"):
        files.refuse_existing(path, order.force)
    store = PersonStore.open()
    submission = _prepared_submission(order, subject) if order.submit else None
    new = new_key_request(store=store, subject=subject, key=order.key, progress=progress)
    try:
        if path not in (None, "-"):
            progress(f"Writing the request to {path}")
            files.replace_file(path, new.request_pem, files.PUBLIC_FILE_MODE)
        submitted = (
            _submit(order, store, subject, new, submission, progress) if submission else None
        )
    except BaseException:
        if path not in (None, "-") and _holds(path, new.request_pem):
            os.unlink(path)  # (only the file this run wrote: never the one --force would replace)
        forget_request(store, new.fingerprint)
        raise
    return CertificateRequested(
        user=subject.user,
        groups=subject.groups,
        key_type=new.spec.describe().split()[0],
        key_bits=None if new.spec.type == "ed25519" else new.spec.bits,
        request_pem=new.request_pem,
        request_file=None if path == "-" else path,
        key_fingerprint=new.fingerprint,
        store=store.root,
        sign_command=sign_command(
            path if path not in (None, "-") else f"{file_safe(subject.user)}.csr", subject
        ),
        submitted=submitted,
        warnings=tuple(warnings),
    )


def _holds(path, data):
    try:
        return os.path.isfile(path) and not os.path.islink(path) and files.read_bytes(path) == data
    except OSError:
        return False


def sign_command(path, subject):
    """The one command the admin runs for this request."""
    pairs = [("--csr", path), ("--user", subject.user)] + [
        ("-g", group) for group in subject.groups
    ]
    words = ["kubectl usercert sign"]
    for flag, value in pairs:
        # (a value that starts with "-" goes after "=", or it would read as a flag)
        words.append(
            f"{flag}={shlex.quote(value)}"
            if value.startswith("-")
            else f"{flag} {shlex.quote(value)}"
        )
    return " ".join(words)


def _prepared_submission(order, subject):
    """Everything --submit needs checked before a key is made: the person's kubeconfig and its
    cluster, and names free for the new context (unless --force)."""
    endpoint = resolve_endpoint(order.kubeconfig, order.context)
    if endpoint is None:
        raise InvalidInput(
            "--submit files the request through your kubeconfig, and none was found",
            hint="pass --kubeconfig FILE (and --context), or drop --submit and send USER.csr to the admin",
        )
    kubeconfig = person_kubeconfig.open_target(order.kubeconfig)
    name = user_kubeconfig.context_name(subject.user, endpoint.name)
    for kind in ("users", "contexts"):
        if not order.force and person_kubeconfig.defined(kubeconfig, kind, name) is not None:
            raise InvalidInput(
                f'the kubeconfig {kubeconfig.shown} already has a {kind[:-1]} "{name}"',
                hint="pass --force to replace it (a backup of the file is kept)",
            )
    own = person_kubeconfig.defined(kubeconfig, "clusters", endpoint.name)
    return endpoint, kubeconfig, own if own is not None else user_kubeconfig.cluster_entry(endpoint)


def _submit(order, store, subject, new, submission, progress):
    endpoint, kubeconfig, cluster_body = submission
    signer = ClusterCSRSigner(
        Kubectl(order.kubeconfig, order.context, None, order.timeout),
        subject.user,
        wait_seconds=order.wait_seconds,
        progress=progress,
    )
    validity = signer.grant(order.validity)
    cert_pem, _info = filed_through_cluster(
        signer=signer,
        request_pem=new.request_pem,
        spec=new.spec,
        validity=validity,
        public_key=new.public_key,
        subject=subject,
        progress=progress,
    )
    key_pem = store.read_key(new.fingerprint)
    confirm_accepted(
        signer=signer,
        store=store,
        endpoint=endpoint,
        user=subject.user,
        cert_pem=cert_pem,
        key_pem=key_pem,
        subject=subject,
    )
    bundled = import_credential.BundleCredential(
        "the cluster's answer", endpoint.name, endpoint.name, cluster_body, cert_pem
    )
    progress(
        f"Adding context {user_kubeconfig.context_name(subject.user, endpoint.name)} to {kubeconfig.shown}"
    )
    credentials, backup = import_credential.install(
        store=store,
        kubeconfig=kubeconfig,
        credentials=[import_credential.checked(store, bundled)],
        force=order.force,
        set_current=order.set_current,
        exec_plugin=order.exec_plugin,
        renew_before=order.renew_before,
    )
    return CredentialsInstalled(
        credentials=tuple(credentials),
        kubeconfig=kubeconfig.shown,
        backup=backup,
        current_context=credentials[0].context if order.set_current else None,
        request_name=signer.object_name,
        warnings=tuple(signer.notes),
    )
