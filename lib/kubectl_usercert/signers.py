"""Which signer issues a certificate: the local CA key, or the cluster's CSR API.

`auto` (the default) signs locally when a CA key is given or found on this machine, and through
the cluster otherwise, which is what a managed cluster (EKS, GKE, AKS) needs.
"""

from dataclasses import dataclass
from typing import Optional

from . import ca as ca_module
from .csr_signer import ClusterCSRSigner
from .errors import InvalidInput
from .kubeconfig import kubeconfig_paths
from .kubectl import Kubectl
from .local_signer import local_signer
from .subject import SYSTEM_MASTERS

SIGNER_KINDS = ("auto", "local", "csr")


@dataclass
class SignerOptions:
    kind: str = "auto"
    ca_cert: Optional[str] = None
    ca_key: Optional[str] = None
    ca_key_passphrase_file: Optional[str] = None
    kubeconfig: Optional[str] = None  # the admin's, for the CSR API
    context: Optional[str] = None
    cluster: Optional[str] = None
    approve: bool = False
    wait_seconds: float = 300.0
    keep_csr: bool = False
    expiration_seconds: Optional[int] = None


def choose_signer(options, subject, progress=lambda _message: None):
    if options.kind not in SIGNER_KINDS:
        raise InvalidInput(f"unknown signer {options.kind!r}", hint="use --signer auto, local or csr")
    if options.kind == "auto" and not _local_ca_available(options) and not kubeconfig_paths(options.kubeconfig):
        raise ca_module.no_ca_found_error()  # neither way to sign: say where the CA was looked for
    if options.kind == "local" or (options.kind == "auto" and _local_ca_available(options)):
        if options.expiration_seconds:
            raise InvalidInput("--expiration works with the CSR API only; the local CA signs whole days",
                               hint="use --days N, or --signer csr")
        return local_signer(options.ca_cert, options.ca_key, options.ca_key_passphrase_file)
    if SYSTEM_MASTERS in subject.groups:
        raise InvalidInput("the CSR API refuses group system:masters (admission forbids it)",
                           hint="bind a role to the user or group instead")
    admin = Kubectl(options.kubeconfig, options.context, options.cluster)
    return ClusterCSRSigner(admin, subject.user, approve=options.approve, wait_seconds=options.wait_seconds,
                            keep_csr=options.keep_csr, expiration_seconds=options.expiration_seconds,
                            progress=progress)


def _local_ca_available(options):
    return bool(options.ca_cert or options.ca_key or ca_module.locate_ca())
