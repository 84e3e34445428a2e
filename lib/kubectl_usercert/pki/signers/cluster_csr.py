"""Signing through the cluster's CertificateSigningRequest API, for clusters where nobody holds the CA key.

The key and the CSR are made here, so the private key never leaves this machine. kubectl submits
the request with the admin's kubeconfig and context (whatever auth that uses), approves it when
asked and allowed, and the tool waits for the certificate, or for Denied or Failed. On any
failure or interrupt the request is withdrawn, so nobody can approve it later.

A certificate the API hands back is used only if the cluster would accept it: checked against the
client CA when its certificate is known here (given with --ca-cert, or recorded in the ledger),
otherwise by asking the cluster with the new credential itself (SelfSubjectReview, as `verify`
does; discovery on a cluster without it), before anything is written or recorded.
"""

import base64
import hashlib
import json
import re
import secrets
import time
from datetime import timedelta

from ... import signals
from ...cluster import identity
from ...cluster.kubectl import failure, kind_of, last_error_line
from ...errors import InvalidInput, UsercertError
from ...store.files import read_bytes, write_public
from ...times import human_duration
from .. import openssl
from ..certificate import BACKDATE, MIN_VALIDITY

SIGNER_NAME = "kubernetes.io/kube-apiserver-client"
CSR_RESOURCE = "certificatesigningrequests.certificates.k8s.io"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubectl-usercert"}
MAX_EXPIRATION_SECONDS = (
    2**31 - 1
)  # spec.expirationSeconds is an int32; the cluster caps far below anyway
POLL_SECONDS = 1.0
# kube's signer (authority.PermissiveSigningPolicy) backdates notBefore by BACKDATE and, from 8 hours on,
# ends BACKDATE early too: the window is the granted duration, plus BACKDATE when shorter than 8 hours.
SHORT = timedelta(hours=8)
_SUBMIT_HINTS = {
    "forbidden": "you need 'create' on certificatesigningrequests (certificates.k8s.io)",
    "exists": "a request of that name exists already; run it again (names are random)",
    "invalid": "the cluster found the request invalid (see above)",
}


SELF_RENEWAL = {"usercert.kubectl.io/purpose": "self-renewal"}


def _slug(user):
    return re.sub(r"[^a-z0-9.-]+", "-", user.lower()).strip("-.")[:40].strip("-.") or "user"


def csr_object_name(user):
    """usercert-USER-<random>: a DNS subdomain whatever the user name holds."""
    return f"usercert-{_slug(user)}-{secrets.token_hex(4)}"


def self_renewal_name(user):
    """The one name of a user's self-renewal requests, usercert-renew-SLUG-<8 hex of sha256(user)>:
    fixed, so RBAC resourceNames can narrow the person's get and delete to it (RBAC cannot narrow
    create), and distinct for users whose slugs are alike."""
    return f"usercert-renew-{_slug(user)}-{hashlib.sha256(user.encode('utf-8')).hexdigest()[:8]}"


def csr_manifest(name, csr_pem, spec, expiration_seconds, labels=None):
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name, "labels": {**MANAGED_BY, **(labels or {})}},
        "spec": {
            "request": base64.b64encode(csr_pem).decode("ascii"),
            "signerName": SIGNER_NAME,
            "expirationSeconds": min(int(expiration_seconds), MAX_EXPIRATION_SECONDS),
            "usages": spec.csr_usages,
        },
    }


def check_may_file(kubectl):
    """Before anything is filed anywhere (a fleet's clusters): that the cluster answers, and lets the
    admin's kubeconfig create CertificateSigningRequests (kubectl auth can-i, a
    SelfSubjectAccessReview)."""
    result = kubectl.run(["auth", "can-i", "create", CSR_RESOURCE])
    if result.stdout.strip() == "yes":
        return
    if result.stdout.strip() == "no":
        error = UsercertError(
            "you may not create CertificateSigningRequests there",
            hint=_SUBMIT_HINTS["forbidden"],
        )
        error.kind = "forbidden"
        raise error
    raise failure("ask whether it takes CertificateSigningRequests", result.stderr)


class ClusterCSRSigner:
    """The Signer (see signers.Signer) that asks the cluster."""

    name = "csr"
    ca_fingerprint = None  # the cluster's CA is not known here

    def __init__(
        self,
        kubectl,
        user,
        *,
        approve=False,
        wait_seconds=300.0,
        poll_seconds=POLL_SECONDS,
        keep_csr=False,
        client_ca=None,
        progress=lambda _message: None,
        clock=time.monotonic,
        sleep=time.sleep,
        name=None,
        labels=None,
        approver=None,
        submit_hints=None,
    ):
        """`name` (else a random one) and `labels` (beside managed-by) of the request; `approver`:
        what the wait says someone must run; `submit_hints` ({kind: hint}) when creating it fails."""
        self.fixed_name, self.labels = name, labels
        self.approver, self.submit_hints = approver, submit_hints
        self.kubectl = kubectl
        self.user = user
        self.ca_cert_path = client_ca  # the cluster's client CA certificate, when known here
        self.approve = approve
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.keep_csr = keep_csr
        self.progress = progress
        self.clock, self.sleep = clock, sleep
        self.object_name = None
        self.approve_error = None  # why our own `kubectl certificate approve` failed, if it did
        self.notes = []

    def server_ca_pem(self):
        return None

    def ledger_fields(self):
        """The signer, and who approved the request: this tool (--approve), or someone else."""
        return {
            "signer": self.name,
            "approval": "self" if self.approve and not self.approve_error else "others",
        }

    def grant(self, validity):
        if validity < MIN_VALIDITY:
            raise InvalidInput(
                f"the CSR API issues certificates for at least 10 minutes "
                f"(asked: {int(validity.total_seconds())}s)",
                hint="use --expiration 10m or longer",
            )
        return validity

    def describe(self, validity):
        return f"Signing through the cluster's CertificateSigningRequest API ({human_duration(validity)})"

    def chains(self, cert_path):
        """Against the client CA when it is known here; None otherwise (`confirm` asks the cluster)."""
        return openssl.verify_chain(cert_path, self.ca_cert_path) if self.ca_cert_path else None

    def confirm(self, kubeconfig, subject, with_key=True):
        """Without the client CA here, ask the cluster with the new credential (the staged kubeconfig,
        in the private staging folder) whether it accepts it; a refusal withdraws the request and
        is an error, so nothing is written or recorded."""
        if self.ca_cert_path:
            return  # chains() checked it against the client CA
        if not with_key:
            self.notes.append(
                "whether the cluster accepts the certificate could not be checked here (the key is "
                "its owner's): its owner's `kubectl auth whoami` shows it"
            )
            return
        self.progress("Asking the cluster whether it accepts the new certificate")
        try:
            seen = identity.ask(self.kubectl.as_user(kubeconfig), subject.user, subject.groups)
            if not seen.accepted:
                raise UsercertError(
                    f"the cluster does not accept the certificate its CSR API issued for "
                    f"{self.object_name} ({seen.method}: 401 Unauthorized)",
                    hint="nothing was written and the request was withdrawn; the cluster's signer "
                    "does not sign with the CA the cluster trusts for clients (ask its admin)",
                )
        except BaseException:
            self.withdraw()
            raise
        self.notes.extend(seen.problems + seen.notes)

    def sign(self, csr_path, spec, validity, _workdir, cert_path):
        self.object_name = self.fixed_name or csr_object_name(self.user)
        manifest = csr_manifest(
            self.object_name, read_bytes(csr_path), spec, validity.total_seconds(), self.labels
        )
        self.progress(f"Submitting CertificateSigningRequest {self.object_name}")
        try:
            self.kubectl.checked(
                ["create", "-f", "-", "-o", "name"],
                "create the CertificateSigningRequest",
                text=json.dumps(manifest),
                hints={**_SUBMIT_HINTS, **(self.submit_hints or {})},
            )
            if self.approve:
                self._approve()
            write_public(cert_path, self._wait_for_certificate())
        except BaseException:
            self.withdraw()
            raise
        if not self.keep_csr:
            self._delete()
        return openssl.certificate_info(cert_path, what="the certificate the cluster issued")

    def rehearse(self, subject, spec, validity, progress):
        """kubectl create --dry-run=server of the request, for a key made and dropped in memory: the
        cluster's permission, validation and admission (system:masters), and nothing is kept."""
        progress("Making a throwaway key and request for the server dry run")
        request = openssl.request_for_key(openssl.generate_key(spec), subject)
        manifest = csr_manifest(csr_object_name(self.user), request, spec, validity.total_seconds())
        progress("Submitting the CertificateSigningRequest (server dry run)")
        self.kubectl.checked(
            ["create", "--dry-run=server", "-f", "-", "-o", "name"],
            "create the CertificateSigningRequest (server dry run)",
            text=json.dumps(manifest),
            hints=_SUBMIT_HINTS,
        )

    def check_validity(self, info, validity):
        """Say so when the cluster issued less than asked (it clamps to --cluster-signing-duration and to
        its CA's expiry)."""
        window = info.not_after - info.not_before
        if window < validity - timedelta(minutes=1):
            granted = window - BACKDATE if window - BACKDATE < SHORT else window
            self.notes.append(
                f"the cluster issued {human_duration(granted)} instead of the {human_duration(validity)} "
                "asked for (its --cluster-signing-duration or its CA's expiry caps it)"
            )

    def _approve(self):
        self.progress(f"Approving {self.object_name}")
        result = self.kubectl.run(["certificate", "approve", self.object_name])
        if not result.ok:
            self.approve_error = last_error_line(result.stderr)
            self.notes.append(
                f"could not approve {self.object_name}: {self.approve_error}; "
                "waiting for someone who may"
            )

    def _wait_for_certificate(self):
        deadline = self.clock() + self.wait_seconds
        if (
            self.approve and self.approve_error is None
        ):  # approved just now: only the signer is left
            self.progress(f"Waiting for {self.object_name} to be signed")
        else:
            self.progress(
                f"Waiting for {self.object_name} to be approved and signed "
                f"({self.approver or 'approve with: kubectl certificate approve ' + self.object_name})"
            )
        while True:
            status = self._status(deadline)
            if status.get("certificate"):
                return self._single_certificate(status["certificate"])
            self._raise_on_final_condition(status)
            if self.clock() >= deadline:
                raise self._timed_out()
            self.sleep(self.poll_seconds)

    def _timed_out(self):
        if self.approve_error:
            details = f"approving it yourself failed: {self.approve_error}"
            hint = (
                f"have someone who may approve requests for signer {SIGNER_NAME} run kubectl certificate "
                "approve NAME within --wait"
            )
        elif self.approver:
            details, hint = (
                None,
                f"{self.approver}, then run this again (or wait longer with --wait)",
            )
        else:
            details, hint = (
                None,
                (
                    "have it approved sooner (kubectl certificate approve NAME), use --approve, or "
                    "wait longer with --wait"
                ),
            )
        return UsercertError(
            f"no certificate for {self.object_name} after {self.wait_seconds:g}s; "
            "the request was withdrawn",
            details=details,
            hint=hint,
        )

    def _status(self, deadline):
        """The request's status; a failed poll is tried again until the deadline (the network may blink),
        but a request someone deleted ends the wait."""
        while True:
            result = self.kubectl.run(["get", CSR_RESOURCE, self.object_name, "-o", "json"])
            if result.ok:
                answer = result.json_object()
                status = None if answer is None else answer.get("status") or {}
                if isinstance(status, dict):
                    return status
                # not a JSON object (a proxy's page, say), or no such object: asked again until the deadline
            elif kind_of(result.stderr) == "missing":
                raise UsercertError(
                    f"CertificateSigningRequest {self.object_name} was deleted while waiting",
                    details=last_error_line(result.stderr),
                    hint="someone removed it; run the command again",
                )
            if self.clock() >= deadline:
                raise failure(f"read CertificateSigningRequest {self.object_name}", result.stderr)
            self.sleep(self.poll_seconds)

    def _single_certificate(self, encoded):
        """Exactly one PEM certificate from status.certificate: a second one would go unchecked."""
        try:
            text = base64.b64decode(encoded, validate=True).decode("ascii")
        except (ValueError, UnicodeDecodeError, TypeError):
            raise UsercertError(
                f"the certificate in {self.object_name} is not base64 PEM",
                hint="the cluster's signer answered something this tool cannot use",
            ) from None
        blocks = re.findall(
            r"-----BEGIN CERTIFICATE-----\s[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----", text
        )
        if len(blocks) != 1:
            raise UsercertError(
                f"{self.object_name} holds {len(blocks)} certificates, not one",
                hint="the cluster's signer answered something this tool cannot use",
            )
        return (blocks[0] + "\n").encode("ascii")

    def withdraw(self):
        """Take the request (and so any certificate from it) away; say so if that failed. A signal
        waits for this: a request left pending could still be approved by someone."""
        with signals.critical():
            deleted = self.object_name is None or self._delete()
        if not deleted:
            self.notes.append(
                f"could not withdraw CertificateSigningRequest {self.object_name}; delete it with: "
                f"kubectl delete csr {self.object_name}"
            )

    def _raise_on_final_condition(self, status):
        conditions = status.get("conditions") or []
        for condition in conditions if isinstance(conditions, list) else []:
            if not isinstance(condition, dict):
                continue
            if (
                condition.get("type") in ("Denied", "Failed")
                and condition.get("status", "True") == "True"
            ):
                reason = condition.get("reason") or condition["type"]
                message = condition.get("message") or ""
                outcome = "was denied" if condition["type"] == "Denied" else "failed"
                raise UsercertError(
                    f"CertificateSigningRequest {self.object_name} {outcome}: "
                    f"{reason}{': ' + message if message else ''}",
                    hint="nothing was written; ask the approver, or fix the request and retry",
                )

    def _delete(self):
        try:
            result = self.kubectl.run(
                ["delete", CSR_RESOURCE, self.object_name, "--ignore-not-found", "--wait=false"]
            )
        except UsercertError:
            return False
        return result.ok
