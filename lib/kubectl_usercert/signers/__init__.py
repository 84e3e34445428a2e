"""Signers: what turns a certificate signing request into a certificate.

Two today, behind one protocol (`Signer`): `local` holds the cluster CA's key (a control-plane
node, or a copy of the CA), `csr` asks the cluster's CertificateSigningRequest API (managed
clusters, where nobody holds the key). A new signer (cert-manager, Vault) is one more module here
and one more branch in `choose_signer`; callers only use the protocol.

`auto` (the default) signs locally when a CA key is given or found on this machine, and through
the cluster otherwise.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import List, Optional, Protocol

from ..certinfo import CertificateInfo
from ..errors import InvalidInput
from ..kubeconfig import kubeconfig_paths
from ..kubectl import Kubectl
from ..subject import SYSTEM_MASTERS
from .cluster_csr import ClusterCSRSigner
from .local import LocalSigner, load_ca, locate_ca, no_ca_found_error

SIGNER_KINDS = ("auto", "local", "csr")


class Signer(Protocol):
    name: str  # as the ledger and -o json say it: local, csr
    ca_fingerprint: Optional[str]  # the signing CA's SHA-256 fingerprint, when known here
    ca_not_after: Optional[object]  # when the signing CA expires, when known here
    notes: List[str]  # what the user should know afterwards (validity clipped, approval failed, ...)

    def grant(self, validity: timedelta) -> timedelta:
        """The validity this signer will give, or an error when it can give none."""

    def describe(self, validity: timedelta) -> str:
        """The progress line while signing."""

    def sign(self, csr_path, spec, validity: timedelta, workdir, cert_path) -> CertificateInfo:
        """Write the certificate for the request to cert_path; return what it says."""

    def chains(self, cert_path) -> Optional[bool]:
        """Whether the certificate verifies against the signing CA; None when that cannot be checked here."""

    def check_validity(self, info: CertificateInfo, validity: timedelta) -> None:
        """Add a note when less than asked was issued."""

    def withdraw(self) -> None:
        """Take back what signing left outside this machine (a pending request)."""

    def server_ca_pem(self) -> Optional[bytes]:
        """The CA to trust for the server when no kubeconfig says (the signing CA, when there is one)."""

    def ledger_fields(self) -> dict:
        """How it signed, for the ledger (so renew can sign alike)."""


@dataclass(frozen=True, eq=False, repr=False)
class SignerOptions:
    kind: str = "auto"
    ca_cert: Optional[str] = None
    ca_key: Optional[str] = None
    ca_key_passphrase_file: Optional[str] = None
    kubectl: Kubectl = Kubectl()  # the admin's, for the CSR API
    approve: bool = False
    wait_seconds: float = 300.0
    keep_csr: bool = False


def choose_signer(options, subject, progress=lambda _message: None):
    """The signer for `options`; the CA is looked for (and checked) once."""
    if options.kind not in SIGNER_KINDS:
        raise InvalidInput(f"unknown signer {options.kind!r}", hint="use --signer auto, local or csr")
    located = locate_ca(options.ca_cert, options.ca_key) if options.kind != "csr" else None
    if options.kind == "local" and located is None:
        raise no_ca_found_error()
    if options.kind == "auto" and located is None and not kubeconfig_paths(options.kubectl.kubeconfig):
        raise no_ca_found_error()  # neither way to sign: say where the CA was looked for
    if located is not None:
        cert, key, given = located
        return LocalSigner(load_ca(cert, key, options.ca_key_passphrase_file, given=given))
    if SYSTEM_MASTERS in subject.groups:
        raise InvalidInput("the CSR API refuses group system:masters (admission forbids it)",
                           hint="bind a role to the user or group instead")
    return ClusterCSRSigner(options.kubectl, subject.user, approve=options.approve, wait_seconds=options.wait_seconds,
                            keep_csr=options.keep_csr, progress=progress)
