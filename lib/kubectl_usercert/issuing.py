"""`create`: a fresh key, a certificate with exactly the asked-for subject, a kubeconfig.

Everything that can be checked is checked before the first file is written: the names, the
destination, the CA, the admin's kubeconfig. The user's folder is built privately and appears
in one rename, only after the certificate verified against the CA and matched the key.
"""

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import List, Optional, Tuple

from . import kubeconfig, ledger, openssl, rbac
from .certinfo import credential_id
from .keys import key_spec
from .kubectl import Kubectl
from .rbac import BindingPlan
from .errors import Interrupted, InvalidInput, UsercertError
from .layout import UserFiles
from .signers import SignerOptions, choose_signer
from .staging import refuse_existing, staged_dir, write_private
from .subject import SYSTEM_MASTERS, make_subject
from .times import days_left, iso


@dataclass
class CreateRequest:
    user: str
    groups: Tuple[str, ...] = ()
    out_dir: str = "clients"
    days: int = 365
    key_type: str = "rsa"
    key_size: Optional[int] = None
    namespace: Optional[str] = None
    force: bool = False
    allow_system_masters: bool = False
    signing: SignerOptions = field(default_factory=SignerOptions)
    kubeconfig: Optional[str] = None
    context: Optional[str] = None
    cluster: Optional[str] = None
    server: Optional[str] = None
    access: BindingPlan = field(default_factory=BindingPlan)
    print_rbac: bool = False  # hand the bindings back as manifests instead of applying them


@dataclass
class IssuedCredential:
    user: str
    groups: Tuple[str, ...]
    serial: str
    not_before: datetime
    not_after: datetime
    key_type: str
    key_bits: Optional[int]
    fingerprint_sha256: str
    directory: str
    kubeconfig_path: str
    cert_path: str
    key_path: str
    cluster: str
    server: str
    context: str
    namespace: Optional[str]
    signer: str
    ca_fingerprint_sha256: str
    warnings: List[str] = field(default_factory=list)
    rbac_manifests: List[dict] = field(default_factory=list)
    rbac_applied: List[str] = field(default_factory=list)  # kubectl apply's lines

    @property
    def days_left(self):
        return days_left(self.not_after)

    @property
    def credential_id(self):
        return credential_id(self.fingerprint_sha256)

    def as_record(self):
        """The machine-readable form (-o json|yaml): camelCase keys, as kubectl's own output."""
        return {
            "user": self.user,
            "groups": list(self.groups),
            "serial": self.serial,
            "notBefore": iso(self.not_before),
            "notAfter": iso(self.not_after),
            "daysLeft": self.days_left,
            "keyType": self.key_type,
            "keySize": self.key_bits,
            "fingerprintSHA256": self.fingerprint_sha256,
            "credentialID": self.credential_id,
            "signer": self.signer,
            "caFingerprintSHA256": self.ca_fingerprint_sha256,
            "cluster": self.cluster,
            "server": self.server,
            "context": self.context,
            "namespace": self.namespace,
            "kubeconfig": self.kubeconfig_path,
            "certificate": self.cert_path,
            "key": self.key_path,
            "warnings": list(self.warnings),
            "rbac": {"applied": list(self.rbac_applied),
                     "bindings": [m["metadata"]["name"] for m in self.rbac_manifests if m["kind"].endswith("Binding")]},
        }

    def ledger_record(self):
        keys = ("user", "groups", "serial", "fingerprintSHA256", "notBefore", "notAfter", "signer",
                "caFingerprintSHA256", "cluster", "server")
        record = self.as_record()
        return {**{key: record[key] for key in keys}, "path": self.directory}


def _no_progress(_message):
    pass


def create(request, progress=_no_progress):
    """Issue a credential for request.user; `progress(message)` is told of each long step."""
    subject = make_subject(request.user, request.groups)
    warnings = group_warnings(subject.groups, request.allow_system_masters)
    spec = key_spec(request.key_type, request.key_size)
    openssl.require_key_support(spec)
    check_days(request.days)
    files = UserFiles.for_user(request.out_dir, subject.user)
    # Fail on existing output before any slow or sensitive work.
    refuse_existing(files.directory, request.force)
    admin, manifests = _prepare_access(request, subject, progress)
    signer = choose_signer(request.signing, subject, progress)
    endpoint = resolve_endpoint(request, signer, warnings)
    days = effective_days(signer, request.days, warnings)
    with staged_dir(files.directory, request.force) as workdir:
        staged = files.inside(workdir)
        progress(f"Generating {spec.describe()} key")
        openssl.generate_key(staged.key, spec)
        os.chmod(staged.key, 0o600)
        info = sign_and_check(staged, subject, spec, signer, days, progress)
        write_kubeconfig(staged, endpoint, subject.user, request.namespace)
        if manifests:
            write_private(staged.rbac, rbac.to_yaml(manifests))
    warnings.extend(signer.notes)
    credential = make_credential(subject, info, files, endpoint, request.namespace, signer, warnings)
    credential.rbac_manifests = manifests
    ledger.append(request.out_dir, "issued", credential.ledger_record())
    if manifests and not request.print_rbac:
        progress("Applying the RBAC bindings")
        credential.rbac_applied = _apply_bindings(admin, manifests, files)
    return credential


def _prepare_access(request, subject, progress):
    """The bindings to make, checked against the cluster before anything is issued (unless only printed)."""
    if request.access.empty:
        return None, []
    manifests = rbac.binding_manifests(request.access, subject.user, subject.groups)
    admin = Kubectl(request.kubeconfig, request.context, request.cluster)
    if not request.print_rbac:
        progress("Checking that the roles to bind exist")
        rbac.check_roles_exist(admin, request.access)
        rbac.check_names_free(admin, manifests)
    return admin, manifests


def _apply_bindings(admin, manifests, files):
    later = f"the credential was written to {files.directory}; apply the bindings with: kubectl apply -f {files.rbac}"
    try:
        return rbac.apply(admin, manifests)
    except UsercertError as exc:
        exc.hint = later
        raise
    except KeyboardInterrupt:
        raise Interrupted("interrupted while applying the RBAC bindings", hint=later) from None


def sign_and_check(files, subject, spec, signer, days, progress):
    """CSR from files.key, signature into files.cert, then the checks. Returns the certificate info."""
    progress("Creating the certificate signing request")
    public_key = openssl.make_csr(files.key, subject, files.csr)
    return sign_request(files, subject, spec, signer, days, public_key, progress)


def sign_request(files, subject, spec, signer, days, public_key, progress):
    """Have files.csr signed into files.cert and check the result against `public_key` and `subject`."""
    progress(signer.describe(days))
    info = signer.sign(files.csr, spec, days, files.directory, files.cert)
    os.unlink(files.csr)
    progress("Checking the certificate")
    try:
        check_issued(info, files.cert, public_key, subject, signer)
    except UsercertError:
        signer.withdraw()
        raise
    signer.check_validity(info, days)
    return info


def effective_days(signer, days, warnings):
    granted = signer.effective_days(days)
    if granted < days:
        warnings.append(f"validity clipped to {granted} days: the CA expires on {signer.ca.info.not_after:%Y-%m-%d}")
    return granted


def group_warnings(groups, allow_system_masters):
    warnings = []
    for group in groups:
        if group == SYSTEM_MASTERS:
            if not allow_system_masters:
                raise InvalidInput(
                    "group system:masters is refused: it bypasses RBAC and webhooks, and a certificate "
                    "cannot be revoked, so the holder stays cluster-admin until it expires",
                    hint="bind a role instead (kubectl create clusterrolebinding ... --user USER), "
                         "or pass --allow-system-masters",
                )
            warnings.append("system:masters bypasses RBAC; this certificate is cluster-admin until it expires")
        elif group.startswith("system:"):
            warnings.append(f"group {group} is a Kubernetes system group; make sure that is intended")
    return warnings


def check_days(days):
    if days < 1:
        raise InvalidInput(f"--days must be at least 1 (got {days})", hint="e.g. --days 90")


def resolve_endpoint(request, signer, warnings):
    endpoint = kubeconfig.resolve_cluster(request.kubeconfig, request.context, request.cluster, request.server)
    if endpoint is None:
        if signer.ca is None:
            raise InvalidInput("the CSR signer needs a kubeconfig to reach the cluster, and none was found",
                               hint="pass --kubeconfig FILE (and --context), or sign locally with --ca-cert/--ca-key")
        if not request.server:
            raise InvalidInput("no kubeconfig found, so the API server address is unknown",
                               hint="pass --server https://HOST:6443, or --kubeconfig FILE")
        endpoint = kubeconfig.endpoint_from_server(request.server, signer.ca_pem())
        warnings.append("no kubeconfig: the signing CA is used as the cluster CA; "
                        "on k3s/rke2 the server CA differs, pass --kubeconfig")
    if endpoint.insecure_skip_tls_verify:
        warnings.append(f'cluster "{endpoint.name}" has insecure-skip-tls-verify: the new kubeconfig does not '
                        "verify the server either")
    elif not endpoint.ca_pem:
        warnings.append(f'cluster "{endpoint.name}" names no CA: the new kubeconfig trusts the system CAs')
    return endpoint


def check_issued(info, cert_path, public_key, subject, signer):
    """Trust but verify: the chain, the key, the subject, clientAuth, validity now."""
    if signer.chains(cert_path) is False:
        raise UsercertError("the new certificate does not verify against the signing CA",
                            hint="the CA certificate and key may not match the cluster's client CA")
    if info.public_key != public_key:
        raise UsercertError("the signed certificate is not for the requested key",
                            hint="the signer changed the key; do not use this certificate")
    if info.common_name != subject.user or info.organizations != subject.groups or \
            len(info.subject) != 1 + len(subject.groups):
        raise UsercertError(f"the signed certificate's subject {info.subject!r} is not the one requested",
                            hint="the signer changed the subject; do not use this certificate")
    if not info.allows_client_auth:
        raise UsercertError("the signed certificate is not valid for client authentication",
                            hint="the signer did not grant clientAuth")
    if info.is_ca:
        raise UsercertError("the signed certificate is a CA certificate", hint="do not use it; check the signer")
    now = datetime.now(timezone.utc)
    if not info.not_before <= now < info.not_after:
        raise UsercertError(f"the signed certificate is not valid now ({info.not_before:%Y-%m-%d %H:%M}Z to "
                            f"{info.not_after:%Y-%m-%d %H:%M}Z)", hint="check this machine's clock and the signer")


def write_kubeconfig(files, endpoint, user, namespace, with_key=True):
    key_pem = read_bytes(files.key) if with_key else None
    config = kubeconfig.build_user_kubeconfig(endpoint, user, read_bytes(files.cert), key_pem, namespace)
    write_private(files.kubeconfig, kubeconfig.dump(config))


def read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def make_credential(subject, info, files, endpoint, namespace, signer, warnings):
    return IssuedCredential(
        user=subject.user, groups=subject.groups, serial=info.serial,
        not_before=info.not_before, not_after=info.not_after,
        key_type=info.key_type, key_bits=info.key_bits, fingerprint_sha256=info.fingerprint_sha256,
        directory=files.directory, kubeconfig_path=files.kubeconfig, cert_path=files.cert, key_path=files.key,
        cluster=endpoint.name, server=endpoint.server,
        context=kubeconfig.context_name(subject.user, endpoint.name), namespace=namespace,
        signer=signer.name, ca_fingerprint_sha256=signer.ca_fingerprint, warnings=warnings,
    )
