"""Which signer signs (see the Signer protocol in __init__): the one the options name, or with
`auto` the CA found here, else the cluster's CertificateSigningRequest API. The CA is looked for
and read once per run, however many users are signed.
"""

import threading
import time

from ... import SIGNER_KINDS
from ...cluster.kubeconfig import kubeconfig_paths
from ...errors import InvalidInput
from ...store.files import read_input
from ..certificate import pem_fingerprint
from ..subject import SYSTEM_MASTERS
from .cluster_csr import ClusterCSRSigner
from .local import LocalSigner, load_ca, locate_ca, no_ca_found_error, searched_places


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
                self._located = (
                    locate_ca(options.ca_cert, options.ca_key) if options.kind != "csr" else None
                )
            return self._located

    def located_fingerprint(self):
        """The located CA's fingerprint, read from its file without openssl (an unchanged roster's plan
        starts no process); None without a CA, or one that cannot be read here."""
        if not self.located:
            return None
        try:
            return pem_fingerprint(
                read_input(self.located[0], "the CA certificate", "check --ca-cert")
            )
        except InvalidInput:
            return None

    def choose(
        self, subject, kind=None, progress=lambda _message: None, sleep=time.sleep, approve=None
    ):
        """The signer for `subject`: of `kind` (default: the options'); `approve` True approves a CSR
        as --approve does (a renewal of one this tool approved), whatever the options say."""
        kind = kind or self.options.kind
        if kind not in SIGNER_KINDS:
            raise InvalidInput(f"unknown signer {kind!r}", hint="use --signer auto, local or csr")
        located = self.located if kind != "csr" else None
        if kind == "local" and located is None:
            raise no_ca_found_error()
        if (
            kind == "auto"
            and located is None
            and not kubeconfig_paths(self.options.kubectl.kubeconfig)
        ):
            raise no_ca_found_error()  # neither way to sign: say where the CA was looked for
        if located is not None:
            return LocalSigner(self._loaded(located))
        if kind == "auto":
            self._say_no_ca(progress)
        if SYSTEM_MASTERS in subject.groups:
            raise InvalidInput(
                "the CSR API refuses group system:masters (admission forbids it)",
                hint="bind a role to the user or group instead",
            )
        options = self.options
        return ClusterCSRSigner(
            options.kubectl,
            subject.user,
            approve=bool(options.approve or approve),
            wait_seconds=options.wait_seconds,
            keep_csr=options.keep_csr,
            client_ca=options.ca_cert,
            progress=progress,
            sleep=sleep,
        )

    def _say_no_ca(self, progress):
        with self._lock:
            said, self._said_no_ca = self._said_no_ca, True
        if not said:
            progress(
                f"No CA key found here (looked in {searched_places()}): signing through the cluster's "
                "CertificateSigningRequest API"
            )

    def _loaded(self, located):
        with self._lock:
            if self._ca is None:
                cert, key, given = located
                self._ca = load_ca(cert, key, self.options.ca_key_passphrase_file, given=given)
            return self._ca
