"""Signers: what turns a certificate signing request into a certificate.

Two today, behind one protocol (`Signer`, here with the options that choose one): `local` holds
the cluster CA's key (a control-plane node, or a copy of the CA), `csr` asks the cluster's
CertificateSigningRequest API (managed clusters, where nobody holds the key). A new signer
(cert-manager, Vault) is one more module here and one more branch in `chooser.SignerChooser.choose`;
callers only use the protocol.

`auto` (the default) signs locally when a CA key is given or found on this machine, and through
the cluster otherwise.
"""

import os
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import List, Optional, Protocol, Tuple

from ...cluster.kubectl import Kubectl
from ..certificate import CertificateInfo


class Signer(Protocol):
    name: str  # as the ledger and -o json say it: local, csr
    ca_fingerprint: Optional[str]  # the signing CA's SHA-256 fingerprint, when known here
    ca_cert_path: Optional[
        str
    ]  # the CA certificate file its certificates chain to, when known here
    notes: List[
        str
    ]  # what the user should know afterwards (validity clipped, approval failed, ...)

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
class ContextCA:
    """One cluster's CA files, given for its context: --ca-cert CONTEXT=FILE, --ca-key CONTEXT=FILE."""

    context: str
    ca_cert: Optional[str] = None
    ca_key: Optional[str] = None
    ca_key_passphrase_file: Optional[str] = None


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
    per_context: Tuple[ContextCA, ...] = ()  # CA files given for one context each (fleets)

    def for_context(self, context):
        """These options for one cluster: its context's CA files where given, else the plain ones."""
        own = next((ca for ca in self.per_context if ca.context == context), None)
        if own is None:
            return replace(self, per_context=())
        return replace(
            self,
            ca_cert=own.ca_cert,
            ca_key=own.ca_key,
            ca_key_passphrase_file=own.ca_key_passphrase_file or self.ca_key_passphrase_file,
            per_context=(),
        )


def context_values(values):
    """(the last plain value, {context: value}) of a repeatable CA flag: CONTEXT=FILE names one
    context's file, split at the first '=' as kubectl splits --from-file=KEY=PATH; a value that is
    an existing file is a file, whatever it holds (so a path with '=' in it means what it meant)."""
    plain, per_context = None, {}
    for value in values or ():
        context, equals, path = value.partition("=")
        if equals and context and path and not os.path.isfile(value):
            per_context[context] = path
        else:
            plain = value
    return plain, per_context


def context_cas(certs=(), keys=(), passphrases=()):
    """The ContextCA of each context named in the per-context values of the three CA flags."""
    named = [context_values(values)[1] for values in (certs, keys, passphrases)]
    contexts = dict.fromkeys(context for found in named for context in found)
    return tuple(
        ContextCA(context, *(found.get(context) for found in named)) for context in contexts
    )
