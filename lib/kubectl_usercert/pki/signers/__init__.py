"""Signers: what turns a certificate signing request into a certificate.

Two today, behind one protocol (`Signer`): `local` holds the cluster CA's key (a control-plane
node, or a copy of the CA), `csr` asks the cluster's CertificateSigningRequest API (managed
clusters, where nobody holds the key). A new signer (cert-manager, Vault) is one more module here
and one more branch in `SignerChooser.choose`; callers only use the protocol.

`auto` (the default) signs locally when a CA key is given or found on this machine, and through
the cluster otherwise.
"""

import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import List, Optional, Protocol

from ... import SIGNER_KINDS
from ...cluster.kubeconfig import kubeconfig_paths
from ...cluster.kubectl import Kubectl
from ...errors import InvalidInput
from ...store.files import read_input
from ..openssl.printout import CertificateInfo, pem_fingerprint
from ..subject import SYSTEM_MASTERS
from .cluster_csr import ClusterCSRSigner
from .local import LocalSigner, load_ca, locate_ca, no_ca_found_error, searched_places



class Signer(Protocol):
    name: str  # as the ledger and -o json say it: local, csr
    ca_fingerprint: Optional[str]  # the signing CA's SHA-256 fingerprint, when known here
    ca_not_after: Optional[object]  # when the signing CA expires, when known here
    ca_cert_path: Optional[str]  # the CA certificate file its certificates chain to, when known here
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

    def confirm(self, kubeconfig, subject, with_key: bool = True) -> None:
        """Once the new kubeconfig is written (privately), make sure the cluster would accept the
        certificate, when chains() could not tell; withdraw and raise when it would not."""

    def withdraw(self) -> None:
        """Take back what signing left outside this machine (a pending request)."""

    def server_ca_pem(self) -> Optional[bytes]:
        """The CA to trust for the server when no kubeconfig says (the signing CA, when there is one)."""

    def ledger_fields(self) -> dict:
        """How it signed, for the ledger (so renew can sign alike)."""

    def rehearse(self, subject, spec, validity: timedelta, progress) -> None:
        """--dry-run=server: ask the cluster whether it would take the request, keeping nothing (the CSR
        API; a local CA has nothing to ask)."""


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
    return SignerChooser(options).choose(subject, progress=progress)


class SignerChooser:
    """Signers for one run's options: the CA looked for once and read once, however many users are
    signed (apply asks for a signer per user, from several threads). `kind` may name the signer
    for one user (a roster's `signer`, the ledger's record at renewal)."""

    _UNSET = object()

    def __init__(self, options):
        self.options = options
        self._lock = threading.RLock()
        self._located = self._UNSET
        self._ca = None
        self._said_no_ca = False  # that auto found no CA and turns to the CSR API: said once a run

    @property
    def located(self):
        """(cert, key, given) of the CA to sign with here, or None (never looked for with --signer csr)."""
        with self._lock:
            if self._located is self._UNSET:
                options = self.options
                self._located = locate_ca(options.ca_cert, options.ca_key) if options.kind != "csr" else None
            return self._located

    def located_fingerprint(self):
        """The located CA's fingerprint, read from its file without openssl (an unchanged roster's plan
        starts no process); None without a CA, or one that cannot be read here."""
        if not self.located:
            return None
        try:
            return pem_fingerprint(read_input(self.located[0], "the CA certificate", "check --ca-cert"))
        except InvalidInput:
            return None

    def choose(self, subject, kind=None, progress=lambda _message: None, sleep=time.sleep, approve=None):
        """The signer for `subject`: of `kind` (default: the options'); `approve` True approves a CSR
        as --approve does (a renewal of one this tool approved), whatever the options say."""
        kind = kind or self.options.kind
        if kind not in SIGNER_KINDS:
            raise InvalidInput(f"unknown signer {kind!r}", hint="use --signer auto, local or csr")
        located = self.located if kind != "csr" else None
        if kind == "local" and located is None:
            raise no_ca_found_error()
        if kind == "auto" and located is None and not kubeconfig_paths(self.options.kubectl.kubeconfig):
            raise no_ca_found_error()  # neither way to sign: say where the CA was looked for
        if located is not None:
            return LocalSigner(self._loaded(located))
        if kind == "auto":
            self._say_no_ca(progress)
        if SYSTEM_MASTERS in subject.groups:
            raise InvalidInput("the CSR API refuses group system:masters (admission forbids it)",
                               hint="bind a role to the user or group instead")
        options = self.options
        return ClusterCSRSigner(options.kubectl, subject.user, approve=bool(options.approve or approve),
                                wait_seconds=options.wait_seconds, keep_csr=options.keep_csr,
                                client_ca=options.ca_cert, progress=progress, sleep=sleep)

    def _say_no_ca(self, progress):
        with self._lock:
            said, self._said_no_ca = self._said_no_ca, True
        if not said:
            progress(f"No CA key found here (looked in {searched_places()}): signing through the cluster's "
                     "CertificateSigningRequest API")

    def _loaded(self, located):
        with self._lock:
            if self._ca is None:
                cert, key, given = located
                self._ca = load_ca(cert, key, self.options.ca_key_passphrase_file, given=given)
            return self._ca
