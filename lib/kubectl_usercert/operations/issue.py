"""Issuing one user (create, sign, demo, and apply's rollout), written once: the subject checked,
then under that user's lock the key made (or the user's own request taken), the request signed and
the result checked, the kubeconfig written, the credential described, and the folder moved into
place together with its ledger line. renew re-signs with the same steps (see renew.py).

Trust but verify: whatever signed it, a certificate is used only if it chains to the signing CA
(where that can be checked here; else the cluster is asked whether it accepts it), is for our
key, holds exactly the requested subject, allows client authentication, is not a CA, and is
valid now.
"""

import os
from datetime import datetime, timezone

from ..cluster import rbac, user_kubeconfig
from ..cluster.endpoint import check_carried, endpoint_from_server, resolve_endpoint
from ..errors import InvalidInput, OutputExists, UsercertError
from ..output.results import Credential
from ..pki import openssl
from ..pki.subject import make_subject, subject_warnings
from ..store import files, ledger, locks, ownership
from ..store.ledger import LedgerEntry
from ..times import duration_text
from .adopt import adopt


def _silent(_message):
    pass


def checked_subject(user, groups, *, allow_system_masters=False, key=None):
    """(the Subject for `user` in `groups`, its warnings): names checked, system:masters refused
    unless allowed; with `key` (a KeySpec), a key this openssl cannot make is refused up front."""
    subject = make_subject(user, groups)
    warnings = subject_warnings(subject, allow_system_masters)
    if key is not None:
        openssl.require_key_support(key)
    return subject, warnings


def issue_user(
    *,
    subject,
    signer,
    endpoint,
    out_dir,
    lifetime,
    key,
    request=None,
    pending_key=None,
    namespace=None,
    force=False,
    warnings=(),
    bindings=(),
    self_renew=False,
    progress=_silent,
):
    """A credential for `subject` in OUT_DIR/USER, signed by `signer` for `lifetime` (a timedelta, as
    asked and as the ledger records it; the signer may grant less), with a kubeconfig for the cluster
    `endpoint` (see `endpoint`). The key is `key` (a KeySpec): a new one, from `pending_key` (an
    openssl.PendingKey started earlier) or made now; or, with `request` (a RequestInfo: a user's own
    signing request), the key its owner holds, and the kubeconfig has none. `bindings` (RBAC
    manifests) are kept in the folder as rbac.yaml; `self_renew`: the ledger records the right to self-renew; with `force`, an existing folder is replaced (and stays on record)."""
    validity = signer.grant(lifetime)
    with_key = request is None
    with locks.user_operation(out_dir, subject.user, progress) as user_files:
        if not force:
            refuse_or_adopt(out_dir, subject.user, user_files, signer.ca_cert_path)
        else:  # what --force replaces stays on record: it is valid until it expires, wherever its files go
            adopt(out_dir, subject.user, user_files, signer.ca_cert_path)
        with files.staged_dir(user_files.directory, force) as stage:
            staged = user_files.inside(stage.path)
            if with_key:
                info = new_key_signed(
                    staged,
                    subject=subject,
                    key=key,
                    signer=signer,
                    validity=validity,
                    progress=progress,
                    pending_key=pending_key,
                )
            else:
                files.write_private(staged.csr, request.pem)
                info = request_signed(
                    staged,
                    subject=subject,
                    key=key,
                    signer=signer,
                    validity=validity,
                    public_key=request.public_key,
                    progress=progress,
                )
            write_kubeconfig(staged, endpoint, subject.user, namespace, with_key)
            signer.confirm(staged.kubeconfig, subject, with_key)
            keep_bindings(staged, bindings)
            credential = describe(
                subject,
                info,
                user_files,
                cluster=endpoint.name,
                server=endpoint.server,
                namespace=namespace,
                signer=signer,
                warnings=warnings,
                with_key=with_key,
                lifetime=lifetime,
                admin_context=endpoint.context,
            )
            entry = ledger_entry(
                "issued",
                credential,
                signer,
                **({} if with_key else {"key_held_by": "owner"}),
                **({"self_renew": True} if self_renew else {}),
            )
            stage.commit(record=lambda: ledger.append(out_dir, entry))
    return credential


def refuse_or_adopt(out_dir, user, user_files, ca_cert=None):
    """Refuse an existing folder; first, if its certificate is not in the ledger (a run was killed
    between moving it into place and recording it), adopt it (see adopt.py), so nothing issued goes
    unrecorded. `ca_cert`: the CA certificate it must chain to, when one is known here."""
    if not os.path.lexists(user_files.directory):
        return
    ownership.require(
        ownership.out_dir_problems(out_dir) + ownership.user_folder_problems(user_files.directory)
    )
    adopted = adopt(out_dir, user, user_files, ca_cert)
    said = (
        " (left by an interrupted run; now recorded in the ledger)"
        if adopted.entry
        else f" (its certificate is not in the ledger, and was not recorded: {adopted.refused})"
        if adopted.refused
        else ""
    )
    raise OutputExists(
        f"{user_files.directory} already exists{said}",
        hint="pass --force to replace it, or choose another --out-dir",
    )


def new_key_signed(staged, *, subject, key, signer, validity, progress, pending_key=None):
    """A fresh key in staged.key (from `pending_key`, an openssl.PendingKey started earlier, or made
    now), its CSR signed into staged.cert, checked."""
    progress(f"Generating {key.describe()} key")
    files.write_private(
        staged.key, pending_key.result() if pending_key else openssl.generate_key(key)
    )
    return key_signed(
        staged, subject=subject, key=key, signer=signer, validity=validity, progress=progress
    )


def key_signed(staged, *, subject, key, signer, validity, progress):
    """A CSR for the key in staged.key, signed into staged.cert, checked."""
    progress("Creating the certificate signing request")
    public_key = openssl.make_csr(staged.key, subject, staged.csr)
    return request_signed(
        staged,
        subject=subject,
        key=key,
        signer=signer,
        validity=validity,
        public_key=public_key,
        progress=progress,
    )


def request_signed(staged, *, subject, key, signer, validity, public_key, progress):
    """staged.csr signed into staged.cert, checked against `public_key` and `subject`."""
    progress(signer.describe(validity))
    info = signer.sign(staged.csr, key, validity, staged.directory, staged.cert)
    os.unlink(staged.csr)
    progress("Checking the certificate")
    try:
        check_issued(info, staged.cert, public_key, subject, signer)
    except UsercertError:
        signer.withdraw()
        raise
    signer.check_validity(info, validity)
    return info


def check_issued(info, cert_path, public_key, subject, signer):
    """The chain, the key, the subject, clientAuth, not a CA, valid now."""
    if signer.chains(cert_path) is False:
        raise UsercertError(
            f"the new certificate does not verify against the CA {signer.ca_cert_path}",
            hint="the CA certificate and key may not match the cluster's client CA"
            if signer.name == "local"
            else "the cluster's signer did not sign with this client CA; "
            "nothing was written and the request was withdrawn (check --ca-cert)",
        )
    if info.public_key != public_key:
        raise UsercertError(
            "the signed certificate is not for the requested key",
            hint="the signer changed the key; do not use this certificate",
        )
    if (
        info.common_name != subject.user
        or info.organizations != subject.groups
        or len(info.subject) != 1 + len(subject.groups)
    ):
        raise UsercertError(
            f"the signed certificate's subject {info.subject!r} is not the one requested",
            hint="the signer changed the subject; do not use this certificate",
        )
    if not info.allows_client_auth:
        raise UsercertError(
            "the signed certificate is not valid for client authentication",
            hint="the signer did not grant clientAuth",
        )
    if info.is_ca:
        raise UsercertError(
            "the signed certificate is a CA certificate", hint="do not use it; check the signer"
        )
    now = datetime.now(timezone.utc)
    if not info.not_before <= now < info.not_after:
        raise UsercertError(
            f"the signed certificate is not valid now ({info.not_before:%Y-%m-%d %H:%M}Z to "
            f"{info.not_after:%Y-%m-%d %H:%M}Z)",
            hint="check this machine's clock and the signer",
        )


def endpoint(kubectl, server, signer, warnings):
    """The cluster the user's kubeconfig points at (the admin's kubeconfig, else --server, trusting
    the signing CA); what the user should know about it is added to `warnings`."""
    found = resolve_endpoint(kubectl.kubeconfig, kubectl.context, kubectl.cluster, server)
    if found is None:
        if signer.server_ca_pem() is None:
            raise InvalidInput(
                "the CSR signer needs a kubeconfig to reach the cluster, and none was found",
                hint="pass --kubeconfig FILE (and --context), or sign locally with --ca-cert/--ca-key",
            )
        if not server:
            raise InvalidInput(
                "no kubeconfig found, so the API server address is unknown",
                hint="pass --server https://HOST:6443, or --kubeconfig FILE",
            )
        found = endpoint_from_server(server, signer.server_ca_pem())
        warnings.append(
            "no kubeconfig: the signing CA is used as the cluster CA; "
            "on k3s/rke2 the server CA differs, pass --kubeconfig"
        )
    check_carried(found, server)
    warnings.extend(endpoint_warnings(found))
    return found


def endpoint_warnings(found):
    """What a person should know of the cluster their kubeconfig points at."""
    if found.insecure_skip_tls_verify:
        return [
            f'cluster "{found.name}" has insecure-skip-tls-verify: the new kubeconfig does not '
            "verify the server either"
        ]
    if not found.ca_pem:
        return [f'cluster "{found.name}" names no CA: the new kubeconfig trusts the system CAs']
    return []


def write_kubeconfig(stage_files, found, user, namespace, with_key=True):
    key_pem = files.read_bytes(stage_files.key) if with_key else None
    config = user_kubeconfig.build(
        found, user, files.read_bytes(stage_files.cert), key_pem, namespace
    )
    files.write_private(stage_files.kubeconfig, user_kubeconfig.dump(config))


def describe(
    subject,
    info,
    user_files,
    *,
    cluster,
    server,
    namespace,
    signer,
    warnings,
    lifetime,
    with_key=True,
    admin_context=None,
):
    """The Credential for what was just issued into user_files, asked for `lifetime` (a timedelta);
    `admin_context`: the admin's context it was issued through."""
    return Credential(
        user=subject.user,
        groups=subject.groups,
        serial=info.serial,
        not_before=info.not_before,
        not_after=info.not_after,
        key_type=info.key_type,
        key_bits=info.key_bits,
        fingerprint_sha256=info.fingerprint_sha256,
        issuer=",".join(f"{a}={v}" for a, v in info.issuer),
        directory=user_files.directory,
        kubeconfig=user_files.kubeconfig,
        certificate=user_files.cert,
        key=user_files.key if with_key else None,
        cluster=cluster,
        server=server,
        context=user_kubeconfig.context_name(subject.user, cluster),
        namespace=namespace,
        signer=signer.name,
        ca_fingerprint_sha256=signer.ca_fingerprint,
        warnings=tuple(warnings) + tuple(signer.notes),
        lifetime=duration_text(lifetime),
        admin_context=admin_context,
    )


def keep_bindings(user_files, bindings):
    """The RBAC manifests made for a user, kept in their folder as applied (rbac.yaml); none: no file."""
    if bindings:
        files.write_private(user_files.rbac, rbac.to_yaml(bindings))


def ledger_entry(event, credential, signer, **extra):
    """The ledger's record of an issued credential (and how it was signed, so renew signs alike)."""
    return LedgerEntry(
        event=event,
        user=credential.user,
        groups=credential.groups,
        serial=credential.serial,
        fingerprint_sha256=credential.fingerprint_sha256,
        not_before=credential.not_before,
        not_after=credential.not_after,
        key_type=credential.key_type,
        key_bits=credential.key_bits,
        cluster=credential.cluster,
        server=credential.server,
        path=credential.directory,
        lifetime=credential.lifetime,
        context=credential.admin_context,
        **{**signer.ledger_fields(), **extra},
    )
