"""A small kube-apiserver stand-in for end-to-end tests driven by real kubectl.

It behaves like kube-apiserver where the project depends on it:

* TLS on 127.0.0.1 with a serving cert that may chain to a *server CA* other
  than the *client CA* (k3s/rke2 layout).
* The client certificate is REQUESTED but not required at the TLS level, like
  Go's tls.RequestClientCert: an OpenSSL verify callback that accepts every
  chain is installed through ctypes on the SSL_CTX behind the Python
  SSLContext (see `tls._request_client_certificate`). The handler then
  authenticates the DER of the peer certificate with `cryptography`, as
  k8s.io/apiserver's x509 authenticator does: issued by a cert in the client
  CA file, inside its validity window (leaf and CA), EKU absent or including
  clientAuth. Failure is a 401 metav1.Status; user = last CN, groups = every
  O in order + system:authenticated, no uid, and (kube-apiserver 1.32+) extra
  authentication.kubernetes.io/credential-id: ["X509SHA256=<sha256 of the
  leaf DER>"]; APIServer(credential_ids=False) leaves it out, as older
  clusters do. No cert or an empty CN is anonymous.
* RBAC over stored (Cluster)Roles and (Cluster)RoleBindings plus kube's
  bootstrap roles; system:masters bypasses authorization. 403 bodies carry
  kube-apiserver's exact forbidden message.
* Classic discovery; OpenAPI documents (v3 JSON for kubectl 1.29+, v2
  protobuf for 1.27/1.28) that advertise server-side `fieldValidation`, so
  kubectl create/apply work without --validate=false and leave validation
  to the server, which rejects unknown fields of RBAC kinds the way kube's
  strict decoder does; Table output for `kubectl get`; protobuf request
  bodies for the kinds kubectl's typed commands send.
* certificates.k8s.io/v1 CertificateSigningRequests as kube-apiserver and
  kube-controller-manager serve them: spec.username/uid/groups/extra set from
  the requester whatever the client sent, and kept on every update; field
  selectors metadata.name and spec.signerName; kube's create validation (a CSR with a good self-signature,
  known usages, expirationSeconds >= 600 and int32), CertificateSubjectRestriction
  admission (no O=system:masters for kubernetes.io/kube-apiserver-client),
  the `approval` subresource (`kubectl certificate approve|deny`, JSON or
  protobuf; `kubectl replace --raw .../approval -f -` for a reason and message
  of one's own; PATCH from `kubectl patch --subresource=approval`, kubectl
  1.32+; RBAC `update` (PUT) or `patch` (PATCH) on
  certificatesigningrequests/approval, then `approve` on
  signers/<signerName> or signers/<domain>/*), and, once
  `sign_csrs_with(ca_cert, ca_key, cluster_signing_duration)` (or
  csr_signing_key=) is given, the kube-apiserver-client signer: usages
  checked (else condition Failed, reason SignerValidationFailure), the
  certificate issued as kube's PermissiveSigningPolicy does it. Signing is
  synchronous on approval. `wait_for(predicate)` blocks until a request
  makes the predicate true, for tests that act when a CSR shows up.
* Watch of every resource (`kubectl get --watch`, `--watch-only`,
  `--output-watch-events`, `get NAME --watch`): a chunked stream of JSON
  events from a resourceVersion (410 Expired when too old), label and field
  selectors, timeoutSeconds, Table events for human output; it ends cleanly
  when the client leaves or the server stops (see watch.py). RBAC sees the
  name of a list or watch narrowed by a metadata.name field selector, so
  resourceNames apply to it as in kube-apiserver.

Differences from kube-apiserver a test may trip over:

* Only certs issued directly by a client CA authenticate (intermediates sent
  by the client are not used: Python exposes only the leaf before 3.13).
* Anonymous users may read discovery (`/api`, `/apis`, `/openapi`) by
  default; kube binds system:discovery to system:authenticated only. Pass
  anonymous_discovery=False for kube's exact default.
* No CSR garbage collection, no /status subresource for CSRs; signer errors
  kube would log and retry (a bad self-signature in a seeded request, an
  expired CA) are kept in `csr_signer.errors` and the request stays unsigned.
* No server-side apply, no admission or defaulting beyond the CSR API's, no
  watch bookmarks (sendInitialEvents aside), no default watch timeout (kube
  picks 30-60 min); strategic merge patch is applied as JSON merge patch
  ($-directives dropped), which is exact for RBAC kinds (their lists are
  atomic), metadata maps and CSR conditions (an atomic list in v1).
* If the ctypes hook cannot be installed (non-CPython, static OpenSSL), the
  server falls back to verifying at the handshake against the client CA
  with time checks off: unknown-CA and wrong-EKU certs then fail the TLS
  handshake instead of getting a 401. `APIServer.client_cert_mode` says
  which mode is active ("request" or "handshake").

The package, one module per capability (this module re-exports the public names):

* tls: the server's SSLContext; the ctypes hook that requests a client cert.
* authentication: the x509 authenticator; UserInfo and the user groups.
* timestamps: times as Go prints them.
* protobuf: request body decoding; the encoding primitives /openapi/v2 uses.
* resources: ResourceType, one REST resource.
* errors: APIError (a metav1.Status failure) and the common ones.
* store: ObjectStore, the in-memory objects; label and field selectors.
* patches: JSON merge patch and JSON patch.
* field_validation: unknown fields of the kinds whose schemas are known.
* rbac: request Attributes, RBACAuthorizer, kube's forbidden message.
* bootstrap: built-in resource types and what the server holds at start.
* tables: Table output for `kubectl get`.
* discovery: /version, /api, /apis and APIResourceLists.
* openapi: /openapi/v3 (JSON) and /openapi/v2 (protobuf).
* request_log: RequestRecord, one answered request.
* handler: the HTTP handler (request attributes, dispatch, the verbs).
* csr: the CSR API (strategy: who filed a request, validation; admission).
* csr_approval: the approval subresource (PUT and PATCH) and its admission.
* csr_signer: the kube-apiserver-client signer (kube-controller-manager's).
* watch: watch streams.
* server: APIServer, the TLS HTTP server it runs, wait_for_port.

A test that monkeypatches a helper patches the module that defines it
(e.g. `apiserver.tls._request_client_certificate`), not this package.

The fence: this package exports one name, `APIServer` (its methods are what tests use: seed, get,
list, records, review, sign_csrs_with, wait_for, open_watches, stop, store). Several at once, with
CAs of their own: helpers.running_test_clusters and the `fleet` fixture. It grows only when a test of the product
needs a behaviour kube-apiserver has; a test of the server itself imports from its modules.
"""

from . import tls  # noqa: F401  (the fallback test patches apiserver.tls)
from .server import APIServer

__all__ = ["APIServer"]
