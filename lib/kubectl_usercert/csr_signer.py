"""Signing through the cluster's CertificateSigningRequest API, for clusters where nobody holds the CA key.

The key and the CSR are made here, so the private key never leaves this machine. kubectl submits
the request with the admin's kubeconfig and context (whatever auth that uses), approves it when
asked and allowed, and the tool waits for the certificate, or for Denied or Failed.
"""

import base64
import json
import re
import secrets
import time

from . import openssl
from .errors import InvalidInput, UsercertError
from .kubectl import last_error_line

SIGNER_NAME = "kubernetes.io/kube-apiserver-client"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubectl-usercert"}
MIN_EXPIRATION_SECONDS = 600
MAX_EXPIRATION_SECONDS = 2 ** 31 - 1  # spec.expirationSeconds is an int32; the cluster caps far below anyway
POLL_SECONDS = 1.0
# kube's signer (authority.PermissiveSigningPolicy) backdates notBefore by 5 minutes and, from 8 hours on,
# ends 5 minutes early too: the window is the granted duration, plus 5 minutes when shorter than 8 hours.
BACKDATE_SECONDS = 300
SHORT_SECONDS = 8 * 3600


def csr_object_name(user):
    """usercert-USER-<random>: a DNS subdomain whatever the user name holds."""
    slug = re.sub(r"[^a-z0-9.-]+", "-", user.lower()).strip("-.")[:40].strip("-.") or "user"
    return f"usercert-{slug}-{secrets.token_hex(4)}"


def csr_manifest(name, csr_pem, spec, expiration_seconds):
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name, "labels": dict(MANAGED_BY)},
        "spec": {
            "request": base64.b64encode(csr_pem).decode("ascii"),
            "signerName": SIGNER_NAME,
            "expirationSeconds": min(int(expiration_seconds), MAX_EXPIRATION_SECONDS),
            "usages": spec.csr_usages,
        },
    }


def check_expiration(seconds):
    if seconds < MIN_EXPIRATION_SECONDS:
        raise InvalidInput(f"the CSR API issues certificates for at least 10 minutes (asked: {int(seconds)}s)",
                           hint="use --expiration 10m or longer")


class ClusterCSRSigner:
    name = "csr"
    ca_fingerprint = None  # the cluster's CA is not known here
    ca = None

    def __init__(self, kubectl, user, *, approve=False, wait_seconds=300.0, keep_csr=False, expiration_seconds=None,
                 progress=lambda _message: None, clock=time.monotonic, sleep=time.sleep):
        self.kubectl = kubectl
        self.user = user
        self.approve = approve
        self.wait_seconds = wait_seconds
        self.keep_csr = keep_csr
        self.expiration_seconds = expiration_seconds
        self.progress = progress
        self.clock, self.sleep = clock, sleep
        self.object_name = None
        self.approve_error = None  # why our own `kubectl certificate approve` failed, if it did
        self.notes = []

    def effective_days(self, days):
        return days

    def requested_seconds(self, days):
        return self.expiration_seconds or days * 86400

    def describe(self, days):
        seconds = self.requested_seconds(days)
        label = f"{seconds // 86400} days" if seconds % 86400 == 0 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        return f"Signing through the cluster's CertificateSigningRequest API ({label})"

    def chains(self, _cert_path):
        return None  # the API server signed it; there is no local CA to check against

    def sign(self, csr_path, spec, days, _workdir, cert_path):
        seconds = self.requested_seconds(days)
        check_expiration(seconds)
        with open(csr_path, "rb") as handle:
            csr_pem = handle.read()
        self.object_name = csr_object_name(self.user)
        self._submit(csr_manifest(self.object_name, csr_pem, spec, seconds))
        try:
            if self.approve:
                self._approve()
            certificate = self._wait_for_certificate()
        except BaseException:
            self._delete(always=True)
            raise
        with open(cert_path, "wb") as handle:
            handle.write(certificate)
        self._delete()
        return openssl.certificate_info(cert_path, what="the certificate the cluster issued")

    def check_validity(self, info, days):
        """Say so when the cluster issued less than asked (it clamps to --cluster-signing-duration and to
        its CA's expiry)."""
        asked = self.requested_seconds(days)
        window = (info.not_after - info.not_before).total_seconds()
        if window < asked - 60:
            granted = window - BACKDATE_SECONDS if window - BACKDATE_SECONDS < SHORT_SECONDS else window
            self.notes.append(f"the cluster issued {_human(granted)} instead of the {_human(asked)} asked for "
                              "(its --cluster-signing-duration or its CA's expiry caps it)")

    def _submit(self, manifest):
        self.progress(f"Submitting CertificateSigningRequest {self.object_name}")
        result = self.kubectl.run(["create", "-f", "-", "-o", "name"], text=json.dumps(manifest))
        if not result.ok:
            raise UsercertError("the cluster refused the CertificateSigningRequest",
                                details=last_error_line(result.stderr),
                                hint="you need 'create' on certificatesigningrequests (certificates.k8s.io)")

    def _approve(self):
        self.progress(f"Approving {self.object_name}")
        result = self.kubectl.run(["certificate", "approve", self.object_name])
        if not result.ok:
            self.approve_error = last_error_line(result.stderr)
            self.notes.append(f"could not approve {self.object_name}: {self.approve_error}; "
                              "waiting for someone who may")

    def _wait_for_certificate(self):
        deadline = self.clock() + self.wait_seconds
        self.progress(f"Waiting for {self.object_name} to be approved and signed "
                      f"(approve with: kubectl certificate approve {self.object_name})")
        while True:
            status = self._status()
            if status.get("certificate"):
                return self._single_certificate(status["certificate"])
            self._raise_on_final_condition(status)
            if self.clock() >= deadline:
                if self.approve_error:
                    details = f"approving it yourself failed: {self.approve_error}"
                    hint = ("have someone who may approve requests for signer " + SIGNER_NAME + " run kubectl "
                            "certificate approve NAME within --wait")
                else:
                    details, hint = None, ("have it approved sooner (kubectl certificate approve NAME), use "
                                           "--approve, or wait longer with --wait")
                raise UsercertError(f"no certificate for {self.object_name} after {self.wait_seconds:g}s; "
                                    "the request was withdrawn", details=details, hint=hint)
            self.sleep(POLL_SECONDS)

    def _single_certificate(self, encoded):
        """Exactly one PEM certificate from status.certificate: a second one would go unchecked."""
        try:
            text = base64.b64decode(encoded, validate=True).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            raise UsercertError(f"the certificate in {self.object_name} is not base64 PEM",
                                hint="the cluster's signer answered something this tool cannot use") from None
        blocks = re.findall(r"-----BEGIN CERTIFICATE-----\s[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----", text)
        if len(blocks) != 1:
            raise UsercertError(f"{self.object_name} holds {len(blocks)} certificates, not one",
                                hint="the cluster's signer answered something this tool cannot use")
        return (blocks[0] + "\n").encode("ascii")

    def withdraw(self):
        """The issued certificate was not what was asked: take the request (and so the certificate) away."""
        self._delete(always=True)

    def _status(self):
        result = self.kubectl.run(["get", "certificatesigningrequests.certificates.k8s.io", self.object_name,
                                   "-o", "json"])
        if not result.ok:
            raise UsercertError(f"could not read CertificateSigningRequest {self.object_name}",
                                details=last_error_line(result.stderr))
        try:
            return result.json().get("status") or {}
        except (ValueError, AttributeError):
            raise UsercertError(f"kubectl's answer about {self.object_name} is not a CertificateSigningRequest",
                                details=result.stdout[:200]) from None

    def _raise_on_final_condition(self, status):
        for condition in status.get("conditions") or []:
            if condition.get("type") in ("Denied", "Failed") and condition.get("status", "True") == "True":
                reason = condition.get("reason") or condition["type"]
                message = condition.get("message") or ""
                outcome = "was denied" if condition["type"] == "Denied" else "failed"
                raise UsercertError(f"CertificateSigningRequest {self.object_name} {outcome}: "
                                    f"{reason}{': ' + message if message else ''}",
                                    hint="nothing was written; ask the approver, or fix the request and retry")

    def _delete(self, always=False):
        if self.object_name and (always or not self.keep_csr):
            self.kubectl.run(["delete", "certificatesigningrequests.certificates.k8s.io", self.object_name,
                              "--ignore-not-found", "--wait=false"])


def _human(seconds):
    seconds = int(seconds)
    return f"{seconds // 86400} days" if seconds >= 86400 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
