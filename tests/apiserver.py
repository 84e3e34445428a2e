"""A small kube-apiserver stand-in for end-to-end tests driven by real kubectl.

It behaves like kube-apiserver where the project depends on it:

* TLS on 127.0.0.1 with a serving cert that may chain to a *server CA* other
  than the *client CA* (k3s/rke2 layout).
* The client certificate is REQUESTED but not required at the TLS level, like
  Go's tls.RequestClientCert: an OpenSSL verify callback that accepts every
  chain is installed through ctypes on the SSL_CTX behind the Python
  SSLContext (see `_request_client_certificate`). The handler then
  authenticates the DER of the peer certificate with `cryptography`, as
  k8s.io/apiserver's x509 authenticator does: issued by a cert in the client
  CA file, inside its validity window (leaf and CA), EKU absent or including
  clientAuth. Failure is a 401 metav1.Status; user = last CN, groups = every
  O in order + system:authenticated; no cert or an empty CN is anonymous.
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
  kube-controller-manager serve them: spec.username/groups set from the
  requester, kube's create validation (a CSR with a good self-signature,
  known usages, expirationSeconds >= 600 and int32), CertificateSubjectRestriction
  admission (no O=system:masters for kubernetes.io/kube-apiserver-client),
  the `approval` subresource (`kubectl certificate approve|deny`, JSON or
  protobuf; RBAC `update` on certificatesigningrequests/approval, then
  `approve` on signers/<signerName> or signers/<domain>/*), and, once
  `sign_csrs_with(ca_cert, ca_key, cluster_signing_duration)` (or
  csr_signing_key=) is given, the kube-apiserver-client signer: usages
  checked (else condition Failed, reason SignerValidationFailure), the
  certificate issued as kube's PermissiveSigningPolicy does it. Signing is
  synchronous on approval. `wait_for(predicate)` blocks until a request
  makes the predicate true, for tests that act when a CSR shows up.

Differences from kube-apiserver a test may trip over:

* Only certs issued directly by a client CA authenticate (intermediates sent
  by the client are not used: Python exposes only the leaf before 3.13).
* Anonymous users may read discovery (`/api`, `/apis`, `/openapi`) by
  default; kube binds system:discovery to system:authenticated only. Pass
  anonymous_discovery=False for kube's exact default.
* No CSR garbage collection, no /status subresource for CSRs; signer errors
  kube would log and retry (a bad self-signature in a seeded request, an
  expired CA) are kept in `csr_signer.errors` and the request stays unsigned.
* No watch, no server-side apply, no admission or defaulting beyond the CSR
  API's; strategic merge patch is applied as JSON merge patch ($-directives
  dropped), which is exact for RBAC kinds (their lists are atomic) and
  metadata maps.
* If the ctypes hook cannot be installed (non-CPython, static OpenSSL), the
  server falls back to verifying at the handshake against the client CA
  with time checks off: unknown-CA and wrong-EKU certs then fail the TLS
  handshake instead of getting a 401. `APIServer.client_cert_mode` says
  which mode is active ("request" or "handshake").
"""
import base64
import copy
import ctypes
import ctypes.util
import datetime
import hashlib
import json
import platform
import random
import re
import secrets
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_VERSION = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0",
    "gitCommit": "70d3cc986aa8221cd1dfb1121852688902d3bf53", "gitTreeState": "clean",
    "buildDate": "2024-12-11T17:59:15Z", "goVersion": "go1.23.3",
    "compiler": "gc", "platform": "linux/amd64",
}
RBAC_GROUP = "rbac.authorization.k8s.io"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"


# --------------------------------------------------------------------------
# TLS: request a client certificate without requiring or judging it
# --------------------------------------------------------------------------

_SSL_VERIFY_PEER = 1
_VERIFY_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


@_VERIFY_CB
def _accept_any_chain(preverify_ok, store_ctx):
    # Go's tls.RequestClientCert: take whatever the client sends; the HTTP
    # handler decides (and answers 401), not the handshake.
    return 1


def _libssl():
    """The libssl the running _ssl module uses (dlsym searches its deps)."""
    lib = ctypes.CDLL(ssl._ssl.__file__)
    try:
        lib.SSL_CTX_set_verify
        return lib
    except AttributeError:
        pass
    name = ctypes.util.find_library("ssl")
    lib = ctypes.CDLL(name) if name else None
    if lib is None or lib.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
        raise OSError("cannot find the libssl used by the ssl module")
    return lib


def _ssl_ctx_pointer(context: ssl.SSLContext) -> int:
    # CPython's PySSLContext starts with PyObject_HEAD then `SSL_CTX *ctx`.
    if platform.python_implementation() != "CPython":
        raise OSError("SSL_CTX pointer layout is only known for CPython")
    return ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value


def _request_client_certificate(context: ssl.SSLContext, client_ca_file: str) -> None:
    lib = _libssl()
    lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
    lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
    lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY_CB]
    lib.SSL_CTX_set_verify.restype = None
    ctx = _ssl_ctx_pointer(context)
    # Prove the pointer is the SSL_CTX before writing through it: Python's
    # verify_mode setter must show up in OpenSSL's view of the same context.
    for mode, expected in ((ssl.CERT_REQUIRED, 3), (ssl.CERT_NONE, 0)):
        context.verify_mode = mode
        if lib.SSL_CTX_get_verify_mode(ctx) != expected:
            raise OSError("SSL_CTX pointer check failed")
    context.verify_mode = ssl.CERT_OPTIONAL  # Python keeps our callback from here on
    lib.SSL_CTX_set_verify(ctx, _SSL_VERIFY_PEER, _accept_any_chain)
    _advertise_client_cas(lib, ctx, client_ca_file)


def _advertise_client_cas(lib, ctx: int, client_ca_file: str) -> None:
    # Go servers name the client CAs in CertificateRequest; non-Go clients
    # (curl, Python) use that list to pick a certificate.
    lib.SSL_load_client_CA_file.argtypes = [ctypes.c_char_p]
    lib.SSL_load_client_CA_file.restype = ctypes.c_void_p
    lib.SSL_CTX_set_client_CA_list.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.SSL_CTX_set_client_CA_list.restype = None
    names = lib.SSL_load_client_CA_file(client_ca_file.encode())
    if names:
        lib.SSL_CTX_set_client_CA_list(ctx, names)


def _server_context(server_cert: str, server_key: str, client_ca_file: str) -> Tuple[ssl.SSLContext, str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(server_cert, server_key)
    context.set_alpn_protocols(["http/1.1"])
    try:
        _request_client_certificate(context, client_ca_file)
        return context, "request"
    except (OSError, AttributeError, ValueError):
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(client_ca_file)
        context.verify_flags |= 0x200000  # X509_V_FLAG_NO_CHECK_TIME: the handler judges time
        return context, "handshake"


# --------------------------------------------------------------------------
# Authentication (k8s.io/apiserver x509 authenticator)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: Tuple[str, ...]

    @property
    def is_anonymous(self) -> bool:
        return self.name == "system:anonymous"


ANONYMOUS = UserInfo("system:anonymous", (UNAUTHENTICATED,))


class AuthenticationError(Exception):
    """reason is a short tag for tests; str() is Go's error text."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _go_time(t: datetime.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_validity(cert: x509.Certificate, now: datetime.datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise AuthenticationError("not yet valid", (
            "x509: certificate has expired or is not yet valid: current time %s is before %s"
            % (_go_time(now), _go_time(cert.not_valid_before_utc))))
    if now > cert.not_valid_after_utc:
        raise AuthenticationError("expired", (
            "x509: certificate has expired or is not yet valid: current time %s is after %s"
            % (_go_time(now), _go_time(cert.not_valid_after_utc))))


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _issuer_of(leaf: x509.Certificate, cas: Sequence[x509.Certificate], now) -> x509.Certificate:
    for ca in cas:
        try:
            leaf.verify_directly_issued_by(ca)
        except Exception:
            continue
        if _is_ca(ca) and ca.not_valid_before_utc <= now <= ca.not_valid_after_utc:
            return ca
    raise AuthenticationError("unknown authority", "x509: certificate signed by unknown authority")


def _allows_client_auth(cert: x509.Certificate) -> bool:
    # Go: no EKU extension means any usage; otherwise clientAuth or anyEKU.
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.CLIENT_AUTH in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages


def user_from_certificate(cert: x509.Certificate) -> UserInfo:
    """CommonNameUserConversion: last CN; every O in order (multi-valued RDNs too)."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = cns[-1].value if cns else ""
    if not name:
        return ANONYMOUS
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return UserInfo(str(name), tuple(orgs) + (AUTHENTICATED,))


def authenticate(der: Optional[bytes], client_cas: Sequence[x509.Certificate],
                 now: Optional[datetime.datetime] = None) -> UserInfo:
    """The user for a peer certificate; raises AuthenticationError (-> 401)."""
    if not der:
        return ANONYMOUS
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        leaf = x509.load_der_x509_certificate(der)
    except ValueError as e:
        raise AuthenticationError("bad certificate", "x509: %s" % e)
    _check_validity(leaf, now)  # Go checks the leaf's dates before building chains
    ca = _issuer_of(leaf, client_cas, now)
    if not (_allows_client_auth(leaf) and _allows_client_auth(ca)):
        raise AuthenticationError("incompatible key usage",
                                  "x509: certificate specifies an incompatible key usage")
    return user_from_certificate(leaf)


# --------------------------------------------------------------------------
# Protobuf request bodies (just enough of k8s.io/api's messages)
# --------------------------------------------------------------------------

_S, _LS, _MAP = "str", "[str]", "map"
_BYTES, _INT, _TIME = "bytes", "int", "time"  # JSON: base64 string, number, RFC 3339 (absent when zero)
_META = {1: ("name", _S), 2: ("generateName", _S), 3: ("namespace", _S), 5: ("uid", _S),
         6: ("resourceVersion", _S), 8: ("creationTimestamp", _TIME),
         11: ("labels", _MAP), 12: ("annotations", _MAP)}
_PROTO = {
    "ObjectMeta": _META,
    "PolicyRule": {1: ("verbs", _LS), 2: ("apiGroups", _LS), 3: ("resources", _LS),
                   4: ("resourceNames", _LS), 5: ("nonResourceURLs", _LS)},
    "Subject": {1: ("kind", _S), 2: ("apiGroup", _S), 3: ("name", _S), 4: ("namespace", _S)},
    "RoleRef": {1: ("apiGroup", _S), 2: ("kind", _S), 3: ("name", _S)},
    "AggregationRule": {},
    "ClusterRole": {1: ("metadata", "ObjectMeta"), 2: ("rules", "[PolicyRule]")},
    "Role": {1: ("metadata", "ObjectMeta"), 2: ("rules", "[PolicyRule]")},
    "ClusterRoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", "[Subject]"),
                           3: ("roleRef", "RoleRef")},
    "RoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", "[Subject]"),
                    3: ("roleRef", "RoleRef")},
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SSARSpec")},
    "SSARSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                 2: ("nonResourceAttributes", "NonResourceAttributes")},
    "ResourceAttributes": {1: ("namespace", _S), 2: ("verb", _S), 3: ("group", _S),
                           4: ("version", _S), 5: ("resource", _S),
                           6: ("subresource", _S), 7: ("name", _S)},
    "NonResourceAttributes": {1: ("path", _S), 2: ("verb", _S)},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SSRRSpec")},
    "SSRRSpec": {1: ("namespace", _S)},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta")},
    # k8s.io/api/certificates/v1/generated.proto (`kubectl certificate approve|deny` PUTs the whole object)
    "CertificateSigningRequest": {1: ("metadata", "ObjectMeta"), 2: ("spec", "CSRSpec"), 3: ("status", "CSRStatus")},
    "CSRSpec": {1: ("request", _BYTES), 2: ("username", _S), 3: ("uid", _S), 4: ("groups", _LS),
                5: ("usages", _LS), 7: ("signerName", _S), 8: ("expirationSeconds", _INT)},
    "CSRStatus": {1: ("conditions", "[CSRCondition]"), 2: ("certificate", _BYTES)},
    "CSRCondition": {1: ("type", _S), 6: ("status", _S), 2: ("reason", _S), 3: ("message", _S),
                     4: ("lastUpdateTime", _TIME), 5: ("lastTransitionTime", _TIME)},
}


def _varint(buf: bytes, i: int) -> Tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def _pb_fields(buf: bytes) -> List[Tuple[int, object]]:
    out, i = [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = buf[i:i + size], i + size
        else:
            raise ValueError("unsupported protobuf wire type %d" % wire)
        out.append((number, value))
    return out


def _pb_decode(buf: bytes, message: str) -> dict:
    schema, obj = _PROTO[message], {}
    for number, raw in _pb_fields(buf):
        if number not in schema:
            continue  # fields the tests never look at
        name, kind = schema[number]
        if kind == _S:
            if raw:  # proto2 sends "" where JSON would omit the field
                obj[name] = raw.decode("utf-8")
        elif kind == _LS:
            obj.setdefault(name, []).append(raw.decode("utf-8"))
        elif kind == _BYTES:
            if raw:
                obj[name] = base64.b64encode(raw).decode("ascii")
        elif kind == _INT:
            obj[name] = raw - (1 << 64) if raw >= 1 << 63 else raw  # int32/int64 as varint, two's complement
        elif kind == _TIME:
            seconds = dict(_pb_fields(raw)).get(1, 0)  # metav1.Time{seconds=1, nanos=2}; zero time is empty
            if seconds:
                obj[name] = _go_time(datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc))
        elif kind == _MAP:
            entry = dict(_pb_fields(raw))
            obj.setdefault(name, {})[entry.get(1, b"").decode()] = entry.get(2, b"").decode()
        elif kind.startswith("["):
            obj.setdefault(name, []).append(_pb_decode(raw, kind[1:-1]))
        else:
            obj[name] = _pb_decode(raw, kind)
    return obj


def decode_protobuf(body: bytes) -> dict:
    """k8s\\0 + runtime.Unknown{typeMeta, raw} -> the object as JSON would give it."""
    if not body.startswith(b"k8s\x00"):
        raise ValueError("protobuf body without the k8s magic prefix")
    unknown = dict(_pb_fields(body[4:]))
    type_meta = dict(_pb_fields(unknown.get(1, b"")))
    api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
    if kind not in _PROTO:
        raise ValueError("cannot decode protobuf for kind %r" % kind)
    obj = _pb_decode(unknown.get(2, b""), kind)
    obj.update(apiVersion=api_version, kind=kind)
    return obj


# --------------------------------------------------------------------------
# Resource types and the in-memory object store
# --------------------------------------------------------------------------

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource; `review` ones are create-only and never stored."""
    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool
    short_names: Tuple[str, ...] = ()
    verbs: Tuple[str, ...] = STANDARD_VERBS
    review: bool = False
    hidden: bool = False  # routable but absent from discovery (old API versions)

    @property
    def api_version(self) -> str:
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def qualified(self) -> str:
        """GroupResource.String(): what error messages call the resource."""
        return "%s.%s" % (self.resource, self.group) if self.group else self.resource


class APIError(Exception):
    """A metav1.Status failure."""

    def __init__(self, code: int, reason: str, message: str, details: Optional[dict] = None):
        super().__init__(message)
        self.code, self.reason, self.details = code, reason, details

    def status(self) -> dict:
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": str(self), "reason": self.reason, "code": self.code}
        if self.details is not None:
            st["details"] = self.details
        return st


def method_not_allowed() -> APIError:
    return APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def no_such_path() -> APIError:
    return APIError(404, "NotFound", "the server could not find the requested resource", {})


def not_found(rt: ResourceType, name: str) -> APIError:
    return APIError(404, "NotFound", '%s "%s" not found' % (rt.qualified, name),
                    {"name": name, "group": rt.group, "kind": rt.resource})


def _timestamp(t: Optional[datetime.datetime] = None) -> str:
    return _go_time(t or datetime.datetime.now(datetime.timezone.utc))


def _random_suffix(n: int = 5) -> str:
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


class LabelSelector:
    """labels.Parse: k=v, k==v, k!=v, k, !k, k in (a,b), k notin (a,b)."""

    _PART = re.compile(r"(?:[^,(]|\([^)]*\))+")
    _SET = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")

    def __init__(self, text: str):
        self.requirements = [self._parse(p.strip()) for p in self._PART.findall(text or "") if p.strip()]

    def _parse(self, part: str):
        m = self._SET.match(part)
        if m:
            return m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",") if v.strip()}
        for op in ("!=", "==", "="):
            if op in part:
                key, value = (s.strip() for s in part.split(op, 1))
                return key, "!=" if op == "!=" else "=", {value}
        if part.startswith("!"):
            return part[1:].strip(), "!", set()
        if re.match(r"^[A-Za-z0-9./_-]+$", part):
            return part, "exists", set()
        raise APIError(400, "BadRequest", "unable to parse requirement: %r" % part)

    def matches(self, labels: Dict[str, str]) -> bool:
        return all(self._one(labels, *req) for req in self.requirements)

    @staticmethod
    def _one(labels, key, op, values) -> bool:
        present, value = key in labels, labels.get(key)
        return {
            "=": present and value in values, "in": present and value in values,
            "!=": not present or value not in values, "notin": not present or value not in values,
            "exists": present, "!": not present,
        }[op]


def _field_selector(text: str) -> Callable[[dict], bool]:
    """metadata.name / metadata.namespace, which is what kubectl delete --wait uses."""
    tests = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        neg = "!=" in part
        key, value = re.split(r"!=|==|=", part, maxsplit=1)
        if key not in ("metadata.name", "metadata.namespace"):
            raise APIError(400, "BadRequest", 'field label not supported: %s' % key)
        tests.append((key.split(".")[1], value, neg))
    return lambda obj: all((obj["metadata"].get(k, "") == v) != neg for k, v, neg in tests)


class ObjectStore:
    """Objects keyed by (resource type, namespace, name); thread-safe."""

    def __init__(self):
        self.types: Dict[Tuple[str, str, str], ResourceType] = {}
        self._objects: Dict[Tuple[ResourceType, str, str], dict] = {}
        self._lock = threading.RLock()
        self._rv = 1000

    # -- types
    def register(self, rt: ResourceType) -> ResourceType:
        self.types[(rt.group, rt.version, rt.resource)] = rt
        return rt

    def type_for(self, group: str, version: str, resource: str) -> Optional[ResourceType]:
        return self.types.get((group, version, resource))

    def serves(self, group: str, version: str) -> bool:
        return any(t.group == group and t.version == version and not t.hidden for t in self.types.values())

    def type_for_kind(self, api_version: str, kind: str) -> ResourceType:
        for rt in self.types.values():
            if rt.api_version == api_version and rt.kind == kind and not rt.review:
                return rt
        raise KeyError("no resource for %s %s" % (api_version, kind))

    # -- objects
    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def create(self, rt: ResourceType, namespace: str, obj: dict,
               now: Optional[datetime.datetime] = None) -> dict:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        with self._lock:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + _random_suffix()
            name = meta.get("name")
            if not name:
                raise APIError(422, "Invalid", "%s.%s \"\" is invalid: metadata.name: Required value: "
                               "name or generateName is required" % (rt.kind, rt.group or "core"))
            if rt.namespaced:
                self._require_namespace(namespace)
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            key = (rt, namespace if rt.namespaced else "", name)
            if key in self._objects:
                raise APIError(409, "AlreadyExists", '%s "%s" already exists' % (rt.qualified, name),
                               {"name": name, "group": rt.group, "kind": rt.resource})
            obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
            meta.update(uid=str(uuid.uuid4()), resourceVersion=self._next_rv(),
                        creationTimestamp=_timestamp(now))
            self._objects[key] = obj
            return copy.deepcopy(obj)

    def _require_namespace(self, namespace: str) -> None:
        ns_type = self.type_for("", "v1", "namespaces")
        if ns_type and (ns_type, "", namespace) not in self._objects:
            raise not_found(ns_type, namespace)

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict:
        with self._lock:
            obj = self._objects.get((rt, namespace if rt.namespaced else "", name))
            if obj is None:
                raise not_found(rt, name)
            return copy.deepcopy(obj)

    def list(self, rt: ResourceType, namespace: str = "", label_selector: str = "",
             field_selector: str = "") -> List[dict]:
        selector, fields = LabelSelector(label_selector), _field_selector(field_selector)
        with self._lock:
            items = [copy.deepcopy(o) for (t, ns, _), o in sorted(self._objects.items(), key=lambda kv: kv[0][1:])
                     if t == rt and (not namespace or ns == namespace)]
        return [o for o in items if selector.matches(o["metadata"].get("labels") or {}) and fields(o)]

    def replace(self, rt: ResourceType, namespace: str, name: str, obj: dict) -> dict:
        """PUT/PATCH result: keeps identity fields; bumps resourceVersion only on change."""
        with self._lock:
            current = self.get(rt, namespace, name)
            sent_rv = (obj.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise APIError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been '
                               "modified; please apply your changes to the latest version and try again"
                               % (rt.qualified, name), {"name": name, "group": rt.group, "kind": rt.resource})
            new = copy.deepcopy(obj)
            meta = new.setdefault("metadata", {})
            for k in ("name", "namespace", "uid", "creationTimestamp", "resourceVersion"):
                if k in current["metadata"]:
                    meta[k] = current["metadata"][k]
            new["apiVersion"], new["kind"] = rt.api_version, rt.kind
            if new != current:
                meta["resourceVersion"] = self._next_rv()
            self._objects[(rt, namespace if rt.namespaced else "", name)] = new
            return copy.deepcopy(new)

    def delete(self, rt: ResourceType, namespace: str, name: str) -> dict:
        with self._lock:
            obj = self.get(rt, namespace, name)
            del self._objects[(rt, namespace if rt.namespaced else "", name)]
            return obj

    def resource_version(self) -> str:
        with self._lock:
            return str(self._rv)

    @property
    def lock(self) -> "threading.RLock":
        """Held across a read-modify-write (approval, signing) so that nothing slips in between."""
        return self._lock


# --------------------------------------------------------------------------
# Patches
# --------------------------------------------------------------------------

def merge_patch(target, patch):
    """RFC 7386; keys starting with '$' (strategic-merge directives) are dropped."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> List[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(doc, ops: list):
    """RFC 6902 add/remove/replace/test, enough for kubectl patch --type=json."""
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = _pointer(op["path"])
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        kind = op["op"]
        if kind == "test":
            cur = node[int(last)] if isinstance(node, list) else node.get(last)
            if cur != op["value"]:
                raise APIError(422, "Invalid", "test operation failed at %s" % op["path"])
        elif isinstance(node, list):
            idx = len(node) if last == "-" else int(last)
            if kind in ("remove", "replace"):
                node.pop(idx)
            if kind in ("add", "replace"):
                node.insert(idx, op["value"])
        elif kind == "remove":
            del node[last]
        elif kind in ("add", "replace"):
            node[last] = op["value"]
        else:
            raise APIError(400, "BadRequest", "unsupported JSON patch operation %r" % kind)
    return doc


# --------------------------------------------------------------------------
# Field validation (fieldValidation=Strict|Warn|Ignore)
# --------------------------------------------------------------------------

_ANY = "any"  # a value whose inside is not checked (maps, free-form)
_OBJECT_META = {k: _ANY for k in (
    "name", "generateName", "namespace", "labels", "annotations", "uid", "resourceVersion",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "finalizers",
    "ownerReferences", "managedFields", "generation", "selfLink")}
_TOP = {"apiVersion": _ANY, "kind": _ANY, "metadata": _OBJECT_META}
_POLICY_RULE = {k: _ANY for k in ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")}
_SUBJECT = {k: _ANY for k in ("kind", "apiGroup", "name", "namespace")}
_ROLE_REF = {k: _ANY for k in ("apiGroup", "kind", "name")}
_CSR_SPEC = {k: _ANY for k in ("request", "signerName", "expirationSeconds", "usages", "username", "uid",
                               "groups", "extra")}
_CSR_CONDITION = {k: _ANY for k in ("type", "status", "reason", "message", "lastUpdateTime", "lastTransitionTime")}
# Kinds whose fields are known here; others are accepted as sent.
FIELD_SCHEMAS = {
    "ClusterRole": dict(_TOP, rules=[_POLICY_RULE], aggregationRule={"clusterRoleSelectors": _ANY}),
    "Role": dict(_TOP, rules=[_POLICY_RULE]),
    "ClusterRoleBinding": dict(_TOP, subjects=[_SUBJECT], roleRef=_ROLE_REF),
    "RoleBinding": dict(_TOP, subjects=[_SUBJECT], roleRef=_ROLE_REF),
    "CertificateSigningRequest": dict(_TOP, spec=_CSR_SPEC, status={"conditions": [_CSR_CONDITION],
                                                                    "certificate": _ANY}),
}


def unknown_fields(obj, schema, path: str = "") -> List[str]:
    """Paths as kube's strict decoder names them: rules[0].verb"""
    if schema == _ANY:
        return []
    if isinstance(schema, list):
        items = obj if isinstance(obj, list) else []
        return [p for i, item in enumerate(items) for p in unknown_fields(item, schema[0], "%s[%d]" % (path, i))]
    if not isinstance(obj, dict):
        return []
    found = []
    for key, value in obj.items():
        sub = "%s.%s" % (path, key) if path else key
        found += [sub] if key not in schema else unknown_fields(value, schema[key], sub)
    return found


# --------------------------------------------------------------------------
# RBAC (plugin/pkg/auth/authorizer/rbac)
# --------------------------------------------------------------------------

@dataclass
class Attributes:
    """authorizer.Attributes of one request."""
    user: UserInfo
    verb: str
    path: str
    resource_request: bool = False
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


def forbidden_message(a: Attributes) -> str:
    """responsewriters.forbiddenMessage wrapped by errors.NewForbidden."""
    if not a.resource_request:
        return 'forbidden: User "%s" cannot %s path "%s"' % (a.user.name, a.verb, a.path)
    resource = a.resource + ("/" + a.subresource if a.subresource else "")
    if a.namespace:
        what = 'User "%s" cannot %s resource "%s" in API group "%s" in the namespace "%s"' % (
            a.user.name, a.verb, resource, a.api_group, a.namespace)
    else:
        what = 'User "%s" cannot %s resource "%s" in API group "%s" at the cluster scope' % (
            a.user.name, a.verb, resource, a.api_group)
    qualified = "%s.%s" % (a.resource, a.api_group) if a.api_group else a.resource
    if a.name:
        return '%s "%s" is forbidden: %s' % (qualified, a.name, what)
    return "%s is forbidden: %s" % (qualified, what)


def _rule_allows(rule: dict, a: Attributes) -> bool:
    def has(key, value):
        values = rule.get(key) or []
        return "*" in values or value in values

    if not has("verbs", a.verb):
        return False
    if not a.resource_request:
        return any(u == "*" or u == a.path or (u.endswith("*") and a.path.startswith(u[:-1]))
                   for u in rule.get("nonResourceURLs") or [])
    combined = a.resource + ("/" + a.subresource if a.subresource else "")
    resources = rule.get("resources") or []
    resource_ok = ("*" in resources or combined in resources
                   or (a.subresource and "*/" + a.subresource in resources)
                   or a.resource + "/*" in resources)
    names = rule.get("resourceNames") or []
    return has("apiGroups", a.api_group) and resource_ok and (not names or a.name in names)


def _subject_matches(subject: dict, user: UserInfo, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_namespace
        return user.name == "system:serviceaccount:%s:%s" % (ns, name)
    return False


class RBACAuthorizer:
    def __init__(self, store: ObjectStore):
        self.store = store
        rbac = lambda r: store.type_for(RBAC_GROUP, "v1", r)  # noqa: E731
        self.roles, self.cluster_roles = rbac("roles"), rbac("clusterroles")
        self.bindings, self.cluster_bindings = rbac("rolebindings"), rbac("clusterrolebindings")

    def _role_rules(self, ref: dict, namespace: str) -> List[dict]:
        if ref.get("kind") == "ClusterRole":
            return self.store.get(self.cluster_roles, "", ref.get("name", "")).get("rules") or []
        return self.store.get(self.roles, namespace, ref.get("name", "")).get("rules") or []

    def applicable(self, user: UserInfo, namespace: str):
        """(binding description, rules) pairs, and errors for dangling roleRefs."""
        found, errors = [], []
        sources = [(b, "ClusterRoleBinding") for b in self.store.list(self.cluster_bindings)]
        if namespace:
            sources += [(b, "RoleBinding") for b in self.store.list(self.bindings, namespace)]
        for binding, kind in sources:
            ns = binding["metadata"].get("namespace", "")
            if not any(_subject_matches(s, user, ns) for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            try:
                rules = self._role_rules(ref, ns)
            except APIError as e:
                errors.append(str(e))
                continue
            desc = '%s "%s" of %s "%s"' % (kind, binding["metadata"]["name"], ref.get("kind"), ref.get("name"))
            found.append((desc, rules))
        return found, errors

    def authorize(self, a: Attributes) -> Tuple[bool, str]:
        if MASTERS in a.user.groups:
            return True, ""  # the superuser authorizer runs before RBAC
        found, errors = self.applicable(a.user, a.namespace if a.resource_request else "")
        for desc, rules in found:
            if any(_rule_allows(r, a) for r in rules):
                return True, "RBAC: allowed by %s to %s" % (desc, self._who(a.user))
        if not errors:
            return False, ""
        return False, "RBAC: " + (errors[0] if len(errors) == 1 else "[%s]" % ", ".join(errors))

    @staticmethod
    def _who(user: UserInfo) -> str:
        return 'User "%s"' % user.name


# --------------------------------------------------------------------------
# What the server holds at start
# --------------------------------------------------------------------------

def builtin_types() -> List[ResourceType]:
    core = lambda *a, **k: ResourceType("", "v1", *a, **k)  # noqa: E731
    rbac = lambda *a, **k: ResourceType(RBAC_GROUP, "v1", *a, **k)  # noqa: E731
    review = dict(verbs=("create",), review=True)
    return [
        core("namespaces", "Namespace", False, ("ns",)),
        core("pods", "Pod", True, ("po",)),
        rbac("clusterroles", "ClusterRole", False),
        rbac("clusterrolebindings", "ClusterRoleBinding", False),
        rbac("roles", "Role", True),
        rbac("rolebindings", "RoleBinding", True),
        ResourceType("certificates.k8s.io", "v1", "certificatesigningrequests",
                     "CertificateSigningRequest", False, ("csr",)),
        ResourceType("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False, **review),
        ResourceType("authentication.k8s.io", "v1beta1", "selfsubjectreviews", "SelfSubjectReview", False,
                     hidden=True, **review),
        ResourceType("authentication.k8s.io", "v1alpha1", "selfsubjectreviews", "SelfSubjectReview", False,
                     hidden=True, **review),
        ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
                     False, **review),
        ResourceType("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview",
                     False, **review),
    ]


def _rule(verbs, groups, resources, **extra) -> dict:
    rule = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    rule.update(extra)
    return rule


_READ = ("get", "list", "watch")
_WRITE = ("create", "delete", "deletecollection", "patch", "update")
_CORE_READABLE = ("pods", "pods/log", "pods/status", "services", "endpoints", "configmaps",
                  "persistentvolumeclaims", "replicationcontrollers", "events", "namespaces",
                  "serviceaccounts", "resourcequotas", "limitranges")
_DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                   "/openapi/*", "/readyz", "/version", "/version/"]


def bootstrap_cluster_roles() -> Dict[str, List[dict]]:
    """Rules of kube's bootstrap ClusterRoles, trimmed to the resources served here."""
    namespaced_core = [r for r in _CORE_READABLE if r != "namespaces"]
    return {
        "cluster-admin": [_rule(["*"], ["*"], ["*"]), {"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "admin": [_rule(_READ + _WRITE, [""], namespaced_core + ["secrets"]),
                  _rule(_READ, [""], ["namespaces"]),
                  _rule(_READ + _WRITE, [RBAC_GROUP], ["roles", "rolebindings"])],
        "edit": [_rule(_READ + _WRITE, [""], namespaced_core + ["secrets"]),
                 _rule(_READ, [""], ["namespaces"])],
        "view": [_rule(_READ, [""], _CORE_READABLE)],
        "system:discovery": [{"verbs": ["get"], "nonResourceURLs": _DISCOVERY_URLS}],
        "system:public-info-viewer": [{"verbs": ["get"], "nonResourceURLs": [
            "/healthz", "/livez", "/readyz", "/version", "/version/"]}],
        "system:basic-user": [
            _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
            _rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"])],
    }


def _group_subjects(*groups: str) -> List[dict]:
    return [{"kind": "Group", "apiGroup": RBAC_GROUP, "name": g} for g in groups]


def bootstrap_objects(anonymous_discovery: bool = True) -> List[dict]:
    boot = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n},
             "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
            for n in ("default", "kube-node-lease", "kube-public", "kube-system")]
    for name, rules in bootstrap_cluster_roles().items():
        objs.append({"apiVersion": RBAC_GROUP + "/v1", "kind": "ClusterRole",
                     "metadata": {"name": name, "labels": dict(boot)}, "rules": rules})
    discovery = (AUTHENTICATED, UNAUTHENTICATED) if anonymous_discovery else (AUTHENTICATED,)
    for name, groups in (("cluster-admin", (MASTERS,)), ("system:discovery", discovery),
                         ("system:basic-user", (AUTHENTICATED,)),
                         ("system:public-info-viewer", (AUTHENTICATED, UNAUTHENTICATED))):
        objs.append({"apiVersion": RBAC_GROUP + "/v1", "kind": "ClusterRoleBinding",
                     "metadata": {"name": name, "labels": dict(boot)},
                     "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
                     "subjects": _group_subjects(*groups)})
    objs += [make_pod("default", "nginx-7c5ddbdf54-2xkqp", "nginx:1.27"),
             make_pod("default", "web-0", "httpd:2.4"),
             make_pod("kube-system", "coredns-668d6bf9bc-4m9jq", "registry.k8s.io/coredns/coredns:v1.11.3")]
    return objs


def make_pod(namespace: str, name: str, image: str) -> dict:
    """A Running single-container pod, as a fixture for `kubectl get pods`."""
    container = name.split("-")[0]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": container}},
        "spec": {"containers": [{"name": container, "image": image}], "nodeName": "node-1"},
        "status": {"phase": "Running", "podIP": "10.244.0.%d" % (len(name) % 250 + 2),
                   "containerStatuses": [{"name": container, "image": image, "ready": True,
                                          "restartCount": 0, "started": True,
                                          "state": {"running": {}}}]},
    }


# --------------------------------------------------------------------------
# Tables for `kubectl get` (server-side printing)
# --------------------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration, the AGE column."""
    s = int(max(seconds, 0))
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 120:
        return "%ds" % s
    if m < 10:
        return "%dm%ds" % (m, s % 60) if s % 60 else "%dm" % m
    if h < 3:
        return "%dm" % m
    if h < 8:
        return "%dh%dm" % (h, m % 60) if m % 60 else "%dh" % h
    if h < 48:
        return "%dh" % h
    if d < 8:
        return "%dd%dh" % (d, h % 24) if h % 24 else "%dd" % d
    return "%dd" % d


def _age(obj: dict) -> str:
    created = datetime.datetime.strptime(obj["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return human_duration((now - created).total_seconds())


def _pod_ready(obj: dict) -> str:
    statuses = obj.get("status", {}).get("containerStatuses") or []
    return "%d/%d" % (sum(1 for c in statuses if c.get("ready")), len(obj.get("spec", {}).get("containers") or []))


def _subjects_of(kind: str) -> Callable[[dict], str]:
    return lambda o: ", ".join(s["name"] for s in o.get("subjects") or [] if s.get("kind") == kind)


def csr_condition_column(o: dict) -> str:
    """kubectl get csr's CONDITION: Pending|Approved|Denied, then ,Failed and ,Issued."""
    status = o.get("status") or {}
    types = {c.get("type") for c in status.get("conditions") or []}
    text = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    return text + (",Failed" if "Failed" in types else "") + (",Issued" if status.get("certificate") else "")


def _requested_duration(o: dict) -> str:
    seconds = (o.get("spec") or {}).get("expirationSeconds")
    return "<none>" if seconds is None else human_duration(seconds)


_NAME = ("Name", "string", "name", 0, lambda o: o["metadata"]["name"])
_AGE = ("Age", "string", "", 0, _age)
_CREATED_AT = ("Created At", "string", "date", 0, lambda o: o["metadata"]["creationTimestamp"])
_BINDING_COLUMNS = [
    _NAME, ("Role", "string", "", 0, lambda o: "%s/%s" % (o["roleRef"]["kind"], o["roleRef"]["name"])), _AGE,
    ("Users", "string", "", 1, _subjects_of("User")), ("Groups", "string", "", 1, _subjects_of("Group")),
    ("ServiceAccounts", "string", "", 1, _subjects_of("ServiceAccount"))]
TABLE_COLUMNS = {
    "pods": [_NAME, ("Ready", "string", "", 0, _pod_ready),
             ("Status", "string", "", 0, lambda o: o.get("status", {}).get("phase", "")),
             ("Restarts", "string", "", 0, lambda o: str(sum(
                 c.get("restartCount", 0) for c in o.get("status", {}).get("containerStatuses") or []))),
             _AGE, ("IP", "string", "", 1, lambda o: o.get("status", {}).get("podIP", "<none>")),
             ("Node", "string", "", 1, lambda o: o.get("spec", {}).get("nodeName", "<none>"))],
    "namespaces": [_NAME, ("Status", "string", "", 0, lambda o: o.get("status", {}).get("phase", "")), _AGE],
    "clusterroles": [_NAME, _CREATED_AT],
    "roles": [_NAME, _CREATED_AT],
    "clusterrolebindings": _BINDING_COLUMNS,
    "rolebindings": _BINDING_COLUMNS,
    "certificatesigningrequests": [
        _NAME, _AGE, ("SignerName", "string", "", 0, lambda o: (o.get("spec") or {}).get("signerName") or "<none>"),
        ("Requestor", "string", "", 0, lambda o: (o.get("spec") or {}).get("username", "")),
        ("RequestedDuration", "string", "", 0, _requested_duration),
        ("Condition", "string", "", 0, csr_condition_column)],
}


def to_table(rt: ResourceType, objects: List[dict], resource_version: str) -> dict:
    columns = TABLE_COLUMNS.get(rt.resource, [_NAME, _AGE])
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [{"name": n, "type": t, "format": f, "description": n, "priority": p}
                              for n, t, f, p, _ in columns],
        "rows": [{"cells": [fn(o) for *_, fn in columns],
                  "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": o["metadata"]}} for o in objects],
    }


# --------------------------------------------------------------------------
# Discovery and OpenAPI
# --------------------------------------------------------------------------

def _group_versions(store: ObjectStore) -> Dict[str, List[str]]:
    groups: Dict[str, List[str]] = {}
    for rt in store.types.values():
        if not rt.hidden and rt.version not in groups.setdefault(rt.group, []):
            groups[rt.group].append(rt.version)
    return groups


def api_group_list(store: ObjectStore) -> dict:
    groups = []
    for name, versions in sorted(_group_versions(store).items()):
        if not name:
            continue
        gvs = [{"groupVersion": "%s/%s" % (name, v), "version": v} for v in versions]
        groups.append({"name": name, "versions": gvs, "preferredVersion": gvs[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(store: ObjectStore, group: str, version: str) -> Optional[dict]:
    types = [rt for rt in store.types.values() if rt.group == group and rt.version == version and not rt.hidden]
    if not types:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": types[0].api_version,
            "resources": [_api_resource(rt) for rt in sorted(types, key=lambda t: t.resource)]}


def _api_resource(rt: ResourceType) -> dict:
    res = {"name": rt.resource, "singularName": rt.kind.lower(), "namespaced": rt.namespaced,
           "kind": rt.kind, "verbs": list(rt.verbs)}
    if rt.short_names:
        res["shortNames"] = list(rt.short_names)
    return res


def _gv_path(group: str, version: str) -> str:
    return "apis/%s/%s" % (group, version) if group else "api/%s" % version


def openapi_v3_root(store: ObjectStore) -> dict:
    paths = {}
    for group, versions in _group_versions(store).items():
        for v in versions:
            doc = json.dumps(openapi_v3_document(store, group, v), sort_keys=True).encode()
            paths[_gv_path(group, v)] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (
                _gv_path(group, v), hashlib.sha512(doc).hexdigest().upper())}
    return {"paths": paths}


_WRITE_PARAMS = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                 for n in ("dryRun", "fieldManager", "fieldValidation")]


def _operation(rt: ResourceType, action: str, params: bool) -> dict:
    op = {"operationId": "%s%s" % (action, rt.kind), "x-kubernetes-action": action,
          "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
          "responses": {"200": {"description": "OK"}}}
    if params:
        op["parameters"] = list(_WRITE_PARAMS)
    return op


def openapi_v3_document(store: ObjectStore, group: str, version: str) -> dict:
    """Paths only. kubectl's QueryParamVerifierV3 finds a PATCH operation for
    the kind that takes `fieldValidation` and then leaves validation to the
    server, so no schemas are needed; the PATCH has no requestBody, which
    makes kubectl apply build patches from its compiled-in types."""
    paths = {}
    for rt in store.types.values():
        if rt.group != group or rt.version != version or rt.hidden:
            continue
        base = "/" + _gv_path(group, version) + ("/namespaces/{namespace}/" if rt.namespaced else "/") + rt.resource
        if rt.review:
            paths[base] = {"post": _operation(rt, "post", True)}
            continue
        paths[base] = {"get": _operation(rt, "list", False), "post": _operation(rt, "post", True)}
        paths[base + "/{name}"] = {"get": _operation(rt, "get", False), "put": _operation(rt, "put", True),
                                   "patch": _operation(rt, "patch", True),
                                   "delete": _operation(rt, "delete", False)}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}


def _pb_key(number: int, wire: int) -> bytes:
    return _varint_bytes(number << 3 | wire)


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _pb(number: int, payload) -> bytes:
    """One length-delimited field (string or embedded message)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return _pb_key(number, 2) + _varint_bytes(len(data)) + data


def _v2_patch_operation(rt: ResourceType) -> bytes:
    # gnostic openapi_v2: Operation{operation_id=5, parameters=8, vendor_extension=13}
    query_params = b"".join(
        _pb(8, _pb(1, _pb(2, _pb(3, _pb(2, "query") + _pb(4, name) + _pb(6, "string")))))
        for name in ("dryRun", "fieldManager", "fieldValidation"))
    gvk = json.dumps({"group": rt.group, "kind": rt.kind, "version": rt.version})  # JSON is YAML
    extension = _pb(1, "x-kubernetes-group-version-kind") + _pb(2, _pb(2, gvk))
    return _pb(5, "patch" + rt.kind) + query_params + _pb(13, extension)


def openapi_v2_protobuf(store: ObjectStore) -> bytes:
    """/openapi/v2 as kubectl 1.27/1.28 read it (protobuf only): one PATCH
    operation per kind, taking fieldValidation, so that kubectl's
    QueryParamVerifier leaves validation to the server. No definitions:
    kubectl apply then falls back to its compiled-in types for patches."""
    paths = b""
    for rt in store.types.values():
        if rt.review or rt.hidden:
            continue
        url = "/" + _gv_path(rt.group, rt.version) + (
            "/namespaces/{namespace}/" if rt.namespaced else "/") + rt.resource + "/{name}"
        paths += _pb(2, _pb(1, url) + _pb(2, _pb(8, _v2_patch_operation(rt))))  # NamedPathItem{PathItem{patch}}
    info = _pb(1, "Kubernetes") + _pb(2, SERVER_VERSION["gitVersion"])
    return _pb(1, "2.0") + _pb(2, info) + _pb(8, paths)


# --------------------------------------------------------------------------
# Request log
# --------------------------------------------------------------------------

@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    user: Optional[str]          # None when authentication failed
    groups: Tuple[str, ...]
    status: int
    reason: str = ""             # short 401 cause: expired, unknown authority, ...
    detail: str = ""             # Go-style error text behind a 401/403
    user_agent: str = ""


# --------------------------------------------------------------------------
# Request handling
# --------------------------------------------------------------------------

_NAMESPACE_SUBRESOURCES = ("status", "finalize")


def request_attributes(user: UserInfo, method: str, path: str, query: Dict[str, List[str]]) -> Attributes:
    """RequestInfoFactory.NewRequestInfo, for the /api and /apis prefixes."""
    parts = [p for p in path.strip("/").split("/") if p]
    verb = method.lower()
    a = Attributes(user=user, verb=verb, path=path)
    grouped = bool(parts) and parts[0] == "apis"
    if len(parts) < 3 or parts[0] not in ("api", "apis") or (grouped and len(parts) < 4):
        return a
    parts = parts[1:]
    if grouped:
        a.api_group, parts = parts[0], parts[1:]
    a.resource_request, a.api_version, parts = True, parts[0], parts[1:]
    if parts[0] == "namespaces" and len(parts) > 1:
        a.namespace = parts[1]
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    a.resource = parts[0]
    a.name = parts[1] if len(parts) > 1 else ""
    a.subresource = parts[2] if len(parts) > 2 else ""
    a.verb = _resource_verb(method, bool(a.name), query)
    return a


def _resource_verb(method: str, named: bool, query: Dict[str, List[str]]) -> str:
    if method == "GET":
        if query.get("watch", [""])[0] in ("true", "1"):
            return "watch"
        return "get" if named else "list"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: kubectl makes many requests per run
    server_version = "kube-apiserver-test"

    def log_message(self, fmt, *args):  # the request log replaces stderr noise
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_PATCH(self):
        self._serve("PATCH")

    def do_DELETE(self):
        self._serve("DELETE")

    # -- plumbing
    def _serve(self, method: str) -> None:
        app: APIServer = self.server.app
        url = urlsplit(self.path)
        self.method, self.url_path, self.query = method, unquote(url.path), parse_qs(url.query)
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.warnings: List[str] = []
        self.record = RequestRecord(method, self.url_path, url.query, None, (), 0,
                                    user_agent=self.headers.get("User-Agent", ""))
        try:
            self._dispatch(app)
        except APIError as e:
            self._send(e.code, e.status())
        except Exception as e:  # a harness bug must show as a 500, not a hang
            self._send(500, APIError(500, "InternalError", "test apiserver: %r" % e).status())
        finally:
            app._record(self.record)

    def _send(self, code: int, obj: dict) -> None:
        self._send_bytes(code, json.dumps(obj).encode(), "application/json")

    def _send_bytes(self, code: int, data: bytes, content_type: str) -> None:
        self.record.status = code
        self.send_response(code)
        for warning in self.warnings:  # kubectl prints these as "Warning: ..."
            self.send_header("Warning", '299 - %s' % json.dumps(warning))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.write(data)

    def _authenticate(self, app) -> UserInfo:
        try:
            user = authenticate(self.connection.getpeercert(binary_form=True), app.client_cas)
        except AuthenticationError as e:
            self.record.reason, self.record.detail = e.reason, str(e)
            raise APIError(401, "Unauthorized", "Unauthorized")
        self.record.user, self.record.groups = user.name, user.groups
        return user

    def _dispatch(self, app) -> None:
        user = self._authenticate(app)
        a = request_attributes(user, self.method, self.url_path, self.query)
        allowed, reason = app.authorizer.authorize(a)
        if not allowed:
            message = forbidden_message(a) + (": " + reason if reason else "")
            self.record.detail = message
            details = {"group": a.api_group, "kind": a.resource}
            if a.name:
                details["name"] = a.name
            raise APIError(403, "Forbidden", message, details if a.resource_request else {})
        if a.resource_request:
            self._resource(app, a)
        else:
            self._non_resource(app)

    # -- non-resource paths
    def _non_resource(self, app) -> None:
        if self.method != "GET":
            raise method_not_allowed()
        path = self.url_path.rstrip("/") or "/"
        doc = self._non_resource_doc(app, path)
        if doc is None:
            raise no_such_path()
        if isinstance(doc, str):
            self._send_bytes(200, doc.encode(), "text/plain; charset=utf-8")
        elif isinstance(doc, bytes):
            self._send_bytes(200, doc, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
        else:
            self._send(200, doc)

    def _non_resource_doc(self, app, path: str):
        store = app.store
        if path in ("/healthz", "/livez", "/readyz"):
            return "ok"
        if path == "/version":
            return SERVER_VERSION
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % app.port}]}
        if path == "/apis":
            return api_group_list(store)
        if path == "/openapi/v3":
            return openapi_v3_root(store)
        if path == "/openapi/v2":
            return openapi_v2_protobuf(store)
        m = re.match(r"^/(?:openapi/v3/)?(?:api|apis/([^/]+))/([^/]+)$", path)
        if m:
            group, version = m.group(1) or "", m.group(2)
            if path.startswith("/openapi/v3/"):
                return openapi_v3_document(store, group, version) if store.serves(group, version) else None
            return api_resource_list(store, group, version)
        m = re.match(r"^/apis/([^/]+)$", path)
        if m:
            return next((g for g in api_group_list(store)["groups"] if g["name"] == m.group(1)), None)
        return None

    # -- resources
    def _resource(self, app, a: Attributes) -> None:
        rt = app.store.type_for(a.api_group, a.api_version, a.resource)
        hook = app.subresources.get((a.api_group, a.resource, a.subresource)) if rt and a.subresource else None
        if hook is not None:
            code, obj = hook(app, rt, a, self._body_object())
            self._send(code, obj)
            return
        if rt is None or (a.subresource and not rt.review):
            raise no_such_path()
        if a.namespace and not rt.namespaced and a.resource != "namespaces":
            raise no_such_path()
        if rt.review:
            if a.verb != "create":
                raise method_not_allowed()
            self._send(201, app.review(rt, a.user, self._body_object()))
            return
        handler = getattr(self, "_verb_" + a.verb, None)
        if handler is None:
            raise method_not_allowed()
        handler(app, rt, a)

    def _body_object(self) -> dict:
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        try:
            if ctype == "application/vnd.kubernetes.protobuf":
                return decode_protobuf(self.body)
            obj = json.loads(self.body or b"{}")
        except ValueError as e:
            raise APIError(400, "BadRequest", "the body of the request could not be decoded: %s" % e)
        if not isinstance(obj, (dict, list)):
            raise APIError(400, "BadRequest", "the body of the request must be an object")
        return obj

    def _wants_table(self) -> bool:
        return "as=Table" in self.headers.get("Accept", "")

    def _check_body(self, rt: ResourceType, a: Attributes, obj: dict) -> None:
        if obj.get("apiVersion") and (obj.get("apiVersion"), obj.get("kind")) != (rt.api_version, rt.kind):
            raise APIError(400, "BadRequest", "the API version in the data (%s) does not match the expected API "
                           "version (%s)" % (obj.get("apiVersion"), rt.api_version))
        meta = obj.get("metadata") or {}
        if meta.get("namespace") and rt.namespaced and a.namespace and meta["namespace"] != a.namespace:
            raise APIError(400, "BadRequest", "the namespace of the provided object does not match the "
                           "namespace sent on the request")
        if a.name and meta.get("name") and meta["name"] != a.name:
            raise APIError(400, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)"
                           % (meta["name"], a.name))

    def _validate_fields(self, rt: ResourceType, obj: dict) -> None:
        """kube-apiserver's strict decoding; kubectl sends fieldValidation=Strict."""
        unknown = unknown_fields(obj, FIELD_SCHEMAS.get(rt.kind, _ANY))
        mode = self.query.get("fieldValidation", ["Warn"])[0]  # kube's default is Warn
        if not unknown or mode == "Ignore":
            return
        errors = ['unknown field "%s"' % f for f in unknown]
        if mode == "Strict":
            raise APIError(400, "BadRequest", '%s in version "%s" cannot be handled as a %s: strict decoding '
                           "error: %s" % (rt.kind, rt.version, rt.kind, ", ".join(errors)))
        self.warnings += errors

    def _namespace_of(self, rt: ResourceType, a: Attributes) -> str:
        return a.namespace if rt.namespaced else ""

    def _verb_get(self, app, rt, a) -> None:
        obj = app.store.get(rt, self._namespace_of(rt, a), a.name)
        if self._wants_table():
            self._send(200, to_table(rt, [obj], obj["metadata"]["resourceVersion"]))
        else:
            self._send(200, obj)

    def _verb_list(self, app, rt, a) -> None:
        q = lambda k: self.query.get(k, [""])[0]  # noqa: E731
        items = app.store.list(rt, self._namespace_of(rt, a), q("labelSelector"), q("fieldSelector"))
        rv = app.store.resource_version()
        if self._wants_table():
            self._send(200, to_table(rt, items, rv))
            return
        self._send(200, {"kind": rt.kind + "List", "apiVersion": rt.api_version,
                         "metadata": {"resourceVersion": rv}, "items": items})

    def _verb_watch(self, app, rt, a) -> None:
        raise APIError(405, "MethodNotAllowed", "watch is not supported by the test apiserver")

    def _verb_create(self, app, rt, a) -> None:
        obj = self._body_object()
        self._check_body(rt, a, obj)
        self._validate_fields(rt, obj)
        obj = app.prepare_for_create(rt, a, obj)
        self._send(201, app.store.create(rt, a.namespace if rt.namespaced else "", obj))

    def _verb_update(self, app, rt, a) -> None:
        obj = self._body_object()
        self._check_body(rt, a, obj)
        self._validate_fields(rt, obj)
        obj = app.prepare_for_update(rt, a, obj, app.store.get(rt, self._namespace_of(rt, a), a.name))
        self._send(200, app.store.replace(rt, self._namespace_of(rt, a), a.name, obj))

    def _verb_patch(self, app, rt, a) -> None:
        current = app.store.get(rt, self._namespace_of(rt, a), a.name)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        patch = self._body_object()
        if ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            new = merge_patch(current, patch)
        elif ctype == "application/json-patch+json":
            new = json_patch(current, patch)
        else:
            raise APIError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                           "accepted media types include: application/json-patch+json, "
                           "application/merge-patch+json, application/strategic-merge-patch+json")
        self._validate_fields(rt, new)
        new = app.prepare_for_update(rt, a, new, current)
        new.setdefault("metadata", {}).pop("resourceVersion", None)
        if isinstance(patch, dict) and (patch.get("metadata") or {}).get("resourceVersion"):
            new["metadata"]["resourceVersion"] = patch["metadata"]["resourceVersion"]
        self._send(200, app.store.replace(rt, self._namespace_of(rt, a), a.name, new))

    def _verb_delete(self, app, rt, a) -> None:
        self._send(200, app.store.delete(rt, self._namespace_of(rt, a), a.name))

    def _verb_deletecollection(self, app, rt, a) -> None:
        items = app.store.list(rt, self._namespace_of(rt, a), self.query.get("labelSelector", [""])[0])
        for obj in items:
            app.store.delete(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        self._send(200, {"kind": rt.kind + "List", "apiVersion": rt.api_version,
                         "metadata": {"resourceVersion": app.store.resource_version()}, "items": items})


# --------------------------------------------------------------------------
# CertificateSigningRequests (certificates.k8s.io/v1): the registry strategy,
# the admission plugins, the approval subresource and the signer that
# kube-controller-manager runs for kubernetes.io/kube-apiserver-client
# --------------------------------------------------------------------------

CERTIFICATES_GROUP = "certificates.k8s.io"
KUBE_APISERVER_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
CLUSTER_SIGNING_DURATION = datetime.timedelta(days=365)  # --cluster-signing-duration's default
_BACKDATE = datetime.timedelta(minutes=5)  # authority.PermissiveSigningPolicy as signer.go sets it up
_SHORT = datetime.timedelta(hours=8)
_MIN_DURATION = datetime.timedelta(minutes=10)
_INT32_MAX = 2 ** 31 - 1
VALID_USAGES = sorted([
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
    "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
    "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"])
_TRUE_ONLY = ("Approved", "Denied", "Failed")  # condition types whose status must be "True"

Cause = Tuple[str, str, str]  # (reason, field, body) of a metav1.StatusCause


def invalid(rt: ResourceType, name: str, causes: List[Cause]) -> APIError:
    """errors.NewInvalid; kubectl prints 'The KIND "NAME" is invalid: field: body'."""
    texts = ["%s: %s" % (field, body) for _, field, body in causes]
    aggregate = texts[0] if len(texts) == 1 else "[%s]" % ", ".join(texts)
    return APIError(422, "Invalid", '%s.%s "%s" is invalid: %s' % (rt.kind, rt.group, name, aggregate),
                    {"name": name, "group": rt.group, "kind": rt.kind,
                     "causes": [{"reason": r, "message": body, "field": f} for r, f, body in causes]})


def admission_forbidden(rt: ResourceType, name: str, message: str) -> APIError:
    """admission.NewForbidden: what a validating admission plugin's refusal looks like."""
    return APIError(403, "Forbidden", '%s "%s" is forbidden: %s' % (rt.qualified, name, message),
                    {"name": name, "group": rt.group, "kind": rt.resource})


def _cannot_decode(rt: ResourceType, detail: str) -> APIError:
    return APIError(400, "BadRequest", '%s in version "%s" cannot be handled as a %s: %s'
                    % (rt.kind, rt.version, rt.kind, detail))


def _json_type(value) -> str:
    """How Go's encoding/json names a JSON value's type in an UnmarshalTypeError."""
    return {bool: "bool", int: "number", float: "number", list: "array", dict: "object"}.get(type(value), "value")


def _check_csr_decodable(rt: ResourceType, spec: dict) -> None:
    """What Go's JSON decoding into CertificateSigningRequestSpec refuses (before any validation)."""
    request = spec.get("request", "")
    if not isinstance(request, str):
        raise _cannot_decode(rt, "json: cannot unmarshal %s into Go struct field CertificateSigningRequestSpec."
                                 "spec.request of type []uint8" % _json_type(request))
    text = request.replace("\r", "").replace("\n", "")  # Go's base64 decoder skips line breaks
    bad = re.search(r"[^A-Za-z0-9+/=]|=[^=]", text)
    if bad or len(text) % 4:
        raise _cannot_decode(rt, "illegal base64 data at input byte %d" % (bad.start() if bad else len(text)))
    seconds = spec.get("expirationSeconds")
    if seconds is not None and (not isinstance(seconds, int) or isinstance(seconds, bool)
                                or not -_INT32_MAX - 1 <= seconds <= _INT32_MAX):
        raise _cannot_decode(rt, "json: cannot unmarshal %s into Go struct field CertificateSigningRequestSpec."
                                 "spec.expirationSeconds of type int32"
                             % ("number %s" % seconds if isinstance(seconds, (int, float)) else "value"))


def parse_csr_request(request_b64: str) -> x509.CertificateSigningRequest:
    """certificates.ParseCSR on spec.request; ValueError carries Go's text."""
    pem = base64.b64decode(request_b64 or "")
    block = re.search(rb"-----BEGIN ([^-]*)-----", pem)
    if block is None or block.group(1) != b"CERTIFICATE REQUEST":
        raise ValueError("PEM block type must be CERTIFICATE REQUEST")
    try:
        return x509.load_pem_x509_csr(pem[block.start():])
    except ValueError:
        raise ValueError("x509: malformed certificate request")


def csr_signature_error(req: x509.CertificateSigningRequest) -> Optional[str]:
    """CertificateRequest.CheckSignature's error text, or None for a good self-signature."""
    try:
        if req.is_signature_valid:
            return None
    except Exception:  # an algorithm cryptography cannot check
        return "x509: cannot verify signature: algorithm unimplemented"
    key = req.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "crypto/rsa: verification error"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "x509: ECDSA verification failure"
    return "x509: Ed25519 verification failure"


def _quoted(values) -> str:
    return ", ".join(json.dumps(v) for v in values)


def validate_csr_spec(spec: dict) -> List[Cause]:
    """validation.ValidateCertificateSigningRequestCreate, for the spec."""
    causes: List[Cause] = []
    request = spec.get("request", "")
    try:
        problem = csr_signature_error(parse_csr_request(request))
    except ValueError as e:
        problem = str(e)
    if problem:
        causes.append(("FieldValueInvalid", "spec.request", "Invalid value: %s: %s" % (json.dumps(request), problem)))
    usages = spec.get("usages") or []
    if not usages:
        causes.append(("FieldValueRequired", "spec.usages", "Required value: usages must be provided"))
    for i, usage in enumerate(usages):
        if usage not in VALID_USAGES:
            causes.append(("FieldValueNotSupported", "spec.usages[%d]" % i, "Unsupported value: %s: supported "
                           "values: %s" % (json.dumps(usage), _quoted(VALID_USAGES))))
    for i, usage in enumerate(usages):
        if usage in usages[:i]:
            causes.append(("FieldValueDuplicate", "spec.usages[%d]" % i, "Duplicate value: %s" % json.dumps(usage)))
    signer = spec.get("signerName") or ""
    if not signer:
        causes.append(("FieldValueRequired", "spec.signerName", "Required value: signerName must be provided"))
    elif signer.count("/") != 1 or "." not in signer.split("/")[0]:
        causes.append(("FieldValueInvalid", "spec.signerName", "Invalid value: %s: must be a fully qualified domain "
                       "and path of the form 'example.com/signer-name'" % json.dumps(signer)))
    seconds = spec.get("expirationSeconds")
    if seconds is not None and seconds < 600:
        causes.append(("FieldValueInvalid", "spec.expirationSeconds", "Invalid value: %d: may not specify a "
                       "duration less than 600 seconds (10 minutes)" % seconds))
    return causes


def validate_csr_conditions(conditions: List[dict], old: Optional[List[dict]] = None) -> List[Cause]:
    """validateConditions, plus 'updates may not remove' when `old` conditions are given."""
    causes: List[Cause] = []
    seen, approved, denied = set(), False, False
    for i, c in enumerate(conditions):
        path, kind, status = "status.conditions[%d]" % i, c.get("type") or "", c.get("status") or ""
        if not kind:
            causes.append(("FieldValueRequired", path + ".type", "Required value"))
        allowed = ["True"] if kind in _TRUE_ONLY else ["False", "True", "Unknown"]
        if not status:
            causes.append(("FieldValueRequired", path + ".status", "Required value"))
        elif status not in allowed:
            causes.append(("FieldValueNotSupported", path + ".status", "Unsupported value: %s: supported values: %s"
                           % (json.dumps(status), _quoted(allowed))))
        if (kind == "Approved" and denied) or (kind == "Denied" and approved):
            causes.append(("FieldValueInvalid", path + ".type", "Invalid value: %s: Approved and Denied conditions "
                           "are mutually exclusive" % json.dumps(kind)))
        approved, denied = approved or kind == "Approved", denied or kind == "Denied"
        if kind in seen:
            causes.append(("FieldValueDuplicate", path + ".type", "Duplicate value: %s" % json.dumps(kind)))
        seen.add(kind)
    for kind in _TRUE_ONLY if old is not None else ():
        count = lambda cs: sum(1 for c in cs if c.get("type") == kind)  # noqa: E731
        if count(conditions) < count(old):
            causes.append(("FieldValueForbidden", "status.conditions",
                           'Forbidden: updates may not remove a condition of type "%s"' % kind))
    return causes


def _with_timestamps(conditions: List[dict], old: List[dict], now: str) -> List[dict]:
    """populateConditionTimestamps: lastUpdateTime now when unset; lastTransitionTime kept from an
    old condition of the same type and status, else now."""
    out = []
    for c in conditions:
        c = {k: v for k, v in c.items() if v is not None}  # kubectl 1.27 sends "lastTransitionTime": null
        c.setdefault("lastUpdateTime", now)
        if not c.get("lastTransitionTime"):
            same = next((o.get("lastTransitionTime") for o in old if o.get("type") == c.get("type")
                         and o.get("status") == c.get("status") and o.get("lastTransitionTime")), None)
            c["lastTransitionTime"] = same or now
        out.append(c)
    return out


def _signer_attributes(user: UserInfo, verb: str, name: str) -> Attributes:
    return Attributes(user=user, verb=verb, path="", resource_request=True, api_group=CERTIFICATES_GROUP,
                      api_version="*", resource="signers", name=name)


def authorized_for_signer(authorizer: "RBACAuthorizer", user: UserInfo, verb: str, signer_name: str) -> bool:
    """certificates.IsAuthorizedForSignerName: VERB on signers/NAME, else on signers/DOMAIN/*."""
    if authorizer.authorize(_signer_attributes(user, verb, signer_name))[0]:
        return True
    return authorizer.authorize(_signer_attributes(user, verb, signer_name.split("/")[0] + "/*"))[0]


class CSRStrategy:
    """csrStrategy (pkg/registry/certificates/certificates/strategy.go) with the validating admission
    plugin CertificateSubjectRestriction; the approval admission plugin is in `csr_approval`."""

    def prepare_for_create(self, server: "APIServer", rt: ResourceType, a: Attributes, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        spec = obj.setdefault("spec", {})
        _check_csr_decodable(rt, spec)
        for key in ("username", "uid", "groups", "extra"):  # who asked is the server's to say
            spec.pop(key, None)
        spec["username"], spec["groups"] = a.user.name, list(a.user.groups)
        obj["status"] = {}  # nobody creates a pre-approved request
        name = (obj.get("metadata") or {}).get("name") or ""
        causes = validate_csr_spec(spec)
        if causes:
            raise invalid(rt, name, causes)
        if spec.get("signerName") == KUBE_APISERVER_CLIENT_SIGNER:
            subject = parse_csr_request(spec["request"]).subject
            if MASTERS in [o.value for o in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]:
                raise admission_forbidden(rt, name, "use of %s signer with system:masters group is not allowed"
                                          % KUBE_APISERVER_CLIENT_SIGNER)
        return obj

    def prepare_for_update(self, server: "APIServer", rt: ResourceType, a: Attributes, new: dict,
                           old: dict) -> dict:
        """A plain update changes metadata only: spec and status are the old ones."""
        new = copy.deepcopy(new)
        for key in ("spec", "status"):
            if key in old:
                new[key] = copy.deepcopy(old[key])
            else:
                new.pop(key, None)
        return new


def csr_approval(server: "APIServer", rt: ResourceType, a: Attributes, body: dict) -> Tuple[int, dict]:
    """.../certificatesigningrequests/NAME/approval: csrApprovalStrategy (only the conditions change,
    timestamps filled in), its validation, then the CertificateApproval admission plugin ('approve'
    on signers/SIGNERNAME). RBAC on certificatesigningrequests/approval ran before this."""
    if a.verb == "get":
        return 200, server.store.get(rt, "", a.name)
    if a.verb != "update":
        raise method_not_allowed()
    if body.get("apiVersion") and (body.get("apiVersion"), body.get("kind")) != (rt.api_version, rt.kind):
        raise APIError(400, "BadRequest", "the API version in the data (%s) does not match the expected API "
                       "version (%s)" % (body.get("apiVersion"), rt.api_version))
    meta = body.get("metadata") or {}
    if meta.get("name") and meta["name"] != a.name:
        raise APIError(400, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)"
                       % (meta["name"], a.name))
    with server.store.lock:
        old = server.store.get(rt, "", a.name)
        old_conditions = (old.get("status") or {}).get("conditions") or []
        conditions = _with_timestamps((body.get("status") or {}).get("conditions") or [], old_conditions,
                                      _timestamp())
        causes = validate_csr_conditions(conditions, old_conditions)
        if causes:
            raise invalid(rt, a.name, causes)
        signer_name = (old.get("spec") or {}).get("signerName", "")
        if not authorized_for_signer(server.authorizer, a.user, "approve", signer_name):
            raise admission_forbidden(rt, a.name, 'user not permitted to approve requests with signerName "%s"'
                                      % signer_name)
        new = copy.deepcopy(old)
        new.setdefault("status", {})["conditions"] = conditions
        new["metadata"]["resourceVersion"] = meta.get("resourceVersion") or old["metadata"]["resourceVersion"]
        stored = server.store.replace(rt, "", a.name, new)
    server.run_csr_signer(a.name)  # the controller reacts at once: a kubectl get right after sees the cert
    return 200, stored


def client_usages_problem(usages: Sequence[str]) -> Optional[str]:
    """validAPIServerClientUsages (pkg/controller/certificates/signer/signer.go)."""
    for usage in usages:
        if usage not in ("digital signature", "key encipherment", "client auth"):
            return "invalid usage for client certificate: %s" % usage
    if "client auth" not in usages:
        return "missing required usage for client certificate: client auth"
    return None


def _sign_hash(key):
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


class CSRSigner:
    """The csrsigning controller for kubernetes.io/kube-apiserver-client: signs Approved requests
    with the client CA the way kube-controller-manager does (PermissiveSigningPolicy): subject and
    key from the request, random 128-bit serial, NotBefore backdated 5 minutes, the duration asked
    by expirationSeconds clamped to [10m, cluster_signing_duration], NotAfter not backdated for
    short (< 8h) certificates, KeyUsage/EKU from spec.usages, CA:FALSE, no other extension.

    Bad usages give a Failed condition (reason SignerValidationFailure); anything else the
    controller would only log and retry (a bad self-signature, an expired CA) lands in `errors`
    and the request stays unsigned."""

    def __init__(self, ca_cert: x509.Certificate, ca_key, cluster_signing_duration=CLUSTER_SIGNING_DURATION,
                 signer_name: str = KUBE_APISERVER_CLIENT_SIGNER):
        self.ca_cert, self.ca_key = ca_cert, ca_key
        self.cluster_signing_duration = cluster_signing_duration
        self.signer_name = signer_name
        self.errors: List[str] = []

    def duration(self, expiration_seconds: Optional[int]) -> datetime.timedelta:
        if expiration_seconds is None:
            return self.cluster_signing_duration
        asked = datetime.timedelta(seconds=expiration_seconds)
        return max(_MIN_DURATION, min(asked, self.cluster_signing_duration))

    def handle(self, csr: dict, now: Optional[datetime.datetime] = None) -> Optional[dict]:
        """The request's new status, or None when this signer has nothing to do (yet)."""
        status = copy.deepcopy(csr.get("status") or {})
        conditions = status.get("conditions") or []
        types = {c.get("type") for c in conditions}
        spec, name = csr.get("spec") or {}, csr["metadata"]["name"]
        if "Approved" not in types or types & {"Denied", "Failed"} or status.get("certificate") \
                or spec.get("signerName") != self.signer_name:
            return None
        now = now or datetime.datetime.now(datetime.timezone.utc)
        try:
            request = parse_csr_request(spec.get("request", ""))
        except ValueError as e:
            self.errors.append('unable to parse csr "%s": %s' % (name, e))
            return None
        problem = client_usages_problem(spec.get("usages") or [])
        if problem:
            status["conditions"] = conditions + [{
                "type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": problem,
                "lastUpdateTime": _go_time(now), "lastTransitionTime": _go_time(now)}]
            return status
        try:
            pem = self.sign(request, spec.get("usages") or [], spec.get("expirationSeconds"), now)
        except ValueError as e:
            self.errors.append('error auto signing csr "%s": %s' % (name, e))
            return None
        status["certificate"] = base64.b64encode(pem).decode("ascii")
        return status

    def sign(self, request: x509.CertificateSigningRequest, usages: Sequence[str],
             expiration_seconds: Optional[int], now: datetime.datetime) -> bytes:
        problem = csr_signature_error(request)
        if problem:
            raise ValueError("unable to verify certificate request signature: %s" % problem)
        ttl, ca_end = self.duration(expiration_seconds), self.ca_cert.not_valid_after_utc
        if now >= ca_end:
            raise ValueError("refusing to sign a certificate that expired in the past: NotAfter=%s" % ca_end)
        not_after = min(now + ttl if ttl < _SHORT else now + ttl - _BACKDATE, ca_end)
        builder = (x509.CertificateBuilder()
                   .subject_name(request.subject)
                   .issuer_name(self.ca_cert.subject)
                   .public_key(request.public_key())
                   .serial_number(secrets.randbits(128) or 1)
                   .not_valid_before(now - _BACKDATE)
                   .not_valid_after(not_after))
        digital, encipherment = "digital signature" in usages or "signing" in usages, "key encipherment" in usages
        if digital or encipherment:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=digital, content_commitment=False, key_encipherment=encipherment,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False), critical=True)
        if "client auth" in usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        try:
            ski = self.ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        except x509.ExtensionNotFound:
            pass
        cert = builder.sign(self.ca_key, _sign_hash(self.ca_key))
        return cert.public_bytes(serialization.Encoding.PEM)


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------

class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, app: "APIServer"):
        self.app = app
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address):
        # The handshake runs here, in the connection's own thread, so a slow or
        # broken client cannot stall the accept loop.
        request.settimeout(30)
        try:
            conn = self.app.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.app.handshake_errors.append(str(e))  # e.g. a port probe, or the fallback mode refusing
            return
        self.app._track(conn, True)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            self.app._track(conn, False)
            conn.close()


def _load_cas(path: str) -> List[x509.Certificate]:
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificates(f.read())


class APIServer:
    """The test API server. `with APIServer(cert, key, client_ca) as srv: srv.url`"""

    def __init__(self, server_cert, server_key, client_ca_file, *, host: str = "127.0.0.1",
                 anonymous_discovery: bool = True, csr_signing_key=None,
                 cluster_signing_duration: datetime.timedelta = CLUSTER_SIGNING_DURATION):
        self.server_cert, self.server_key = str(server_cert), str(server_key)
        self.client_ca_file = str(client_ca_file)
        self.client_cas = _load_cas(self.client_ca_file)
        self.host = host
        self.store = ObjectStore()
        for rt in builtin_types():
            self.store.register(rt)
        self.authorizer = RBACAuthorizer(self.store)
        # (group, resource, subresource) -> fn(server, rt, attributes, body) -> (http code, object)
        self.subresources: Dict[Tuple[str, str, str], Callable] = {
            (CERTIFICATES_GROUP, "certificatesigningrequests", "approval"): csr_approval}
        # (group, resource) -> object with prepare_for_create(server, rt, a, obj) -> obj and
        # prepare_for_update(server, rt, a, new, old) -> new: kube's registry strategy + admission
        self.strategies: Dict[Tuple[str, str], object] = {
            (CERTIFICATES_GROUP, "certificatesigningrequests"): CSRStrategy()}
        # kube-controller-manager's signer for kubernetes.io/kube-apiserver-client; None: approved
        # requests stay unsigned, as on a cluster whose controller has no signing key
        self.csr_signer: Optional[CSRSigner] = None
        self.log: List[RequestRecord] = []
        self.handshake_errors: List[str] = []
        self._log_lock = threading.RLock()
        self._logged = threading.Condition(self._log_lock)
        self._connections = set()
        self._httpd: Optional[_TLSServer] = None
        self._thread: Optional[threading.Thread] = None
        self.seed(*bootstrap_objects(anonymous_discovery), age=datetime.timedelta(days=3))
        if csr_signing_key is not None:
            self.sign_csrs_with(self.client_cas[0], csr_signing_key, cluster_signing_duration)

    # -- lifecycle
    def start(self) -> "APIServer":
        self.ssl_context, self.client_cert_mode = _server_context(
            self.server_cert, self.server_key, self.client_ca_file)
        self._httpd = _TLSServer((self.host, 0), self)
        # A short poll interval keeps stop() (and so every test's teardown) quick.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="test-apiserver", daemon=True)
        self._thread.start()
        wait_for_port(self.host, self.port)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        for conn in list(self._connections):  # idle keep-alive connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=10)
        self._httpd = None

    def __enter__(self) -> "APIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return "https://%s:%d" % (self.host, self.port)

    # -- state for tests
    def seed(self, *objects: dict, age: Optional[datetime.timedelta] = None) -> List[dict]:
        """Store objects as if created earlier (default: now); returns them as stored."""
        now = datetime.datetime.now(datetime.timezone.utc) - (age or datetime.timedelta(0))
        out = []
        for obj in objects:
            rt = self.store.type_for_kind(obj["apiVersion"], obj["kind"])
            ns = (obj.get("metadata") or {}).get("namespace", "default") if rt.namespaced else ""
            out.append(self.store.create(rt, ns, obj, now=now))
        return out

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> dict:
        rt = self.store.type_for_kind(api_version, kind)
        return self.store.get(rt, namespace if rt.namespaced else "", name)

    def list(self, api_version: str, kind: str, namespace: str = "") -> List[dict]:
        return self.store.list(self.store.type_for_kind(api_version, kind), namespace)

    def wait_for(self, predicate: Callable[[], object], timeout: float = 30.0, what: str = "") -> object:
        """Block until predicate() is truthy, re-checking after every request the server answers
        (no polling); return its value. Raises TimeoutError."""
        with self._logged:
            value = self._logged.wait_for(predicate, timeout)
        if not value:
            raise TimeoutError("test apiserver: nothing satisfied %s within %gs" % (what or predicate, timeout))
        return value

    def records(self, path: Optional[str] = None, status: Optional[int] = None) -> List[RequestRecord]:
        with self._log_lock:
            return [r for r in self.log if (path is None or r.path == path)
                    and (status is None or r.status == status)]

    def _record(self, record: RequestRecord) -> None:
        with self._logged:
            self.log.append(record)
            self._logged.notify_all()

    def _track(self, conn, add: bool) -> None:
        with self._log_lock:
            (self._connections.add if add else self._connections.discard)(conn)

    # -- registry strategies (kube's PrepareForCreate/Update, validation and admission)
    def prepare_for_create(self, rt: ResourceType, a: Attributes, obj: dict) -> dict:
        strategy = self.strategies.get((rt.group, rt.resource))
        return strategy.prepare_for_create(self, rt, a, obj) if strategy else obj

    def prepare_for_update(self, rt: ResourceType, a: Attributes, new: dict, old: dict) -> dict:
        strategy = self.strategies.get((rt.group, rt.resource))
        return strategy.prepare_for_update(self, rt, a, new, old) if strategy else new

    # -- the CSR signer (kube-controller-manager)
    def sign_csrs_with(self, ca_cert, ca_key,
                       cluster_signing_duration: datetime.timedelta = CLUSTER_SIGNING_DURATION) -> CSRSigner:
        """Start signing approved kubernetes.io/kube-apiserver-client requests with this CA
        (cryptography objects or PEM paths); requests approved earlier are signed now."""
        if not isinstance(ca_cert, x509.Certificate):
            with open(str(ca_cert), "rb") as f:
                ca_cert = x509.load_pem_x509_certificate(f.read())
        if not hasattr(ca_key, "sign"):
            with open(str(ca_key), "rb") as f:
                ca_key = serialization.load_pem_private_key(f.read(), password=None)
        self.csr_signer = CSRSigner(ca_cert, ca_key, cluster_signing_duration)
        self.run_csr_signer()
        return self.csr_signer

    def run_csr_signer(self, name: Optional[str] = None) -> None:
        """One pass of the signing controller over one request (or all); it writes status as
        UpdateStatus would."""
        signer = self.csr_signer
        rt = self.store.type_for(CERTIFICATES_GROUP, "v1", "certificatesigningrequests")
        if signer is None or rt is None:
            return
        with self.store.lock:
            try:
                requests = [self.store.get(rt, "", name)] if name else self.store.list(rt)
            except APIError:
                return  # deleted meanwhile
            for csr in requests:
                status = signer.handle(csr)
                if status is not None:
                    csr["status"] = status
                    self.store.replace(rt, "", csr["metadata"]["name"], csr)

    # -- reviews: answered from the request's user, never stored
    def review(self, rt: ResourceType, user: UserInfo, body: dict) -> dict:
        out = {"kind": rt.kind, "apiVersion": rt.api_version,
               "metadata": {"creationTimestamp": None}}
        if rt.resource == "selfsubjectreviews":
            out["status"] = {"userInfo": {"username": user.name, "groups": list(user.groups)}}
        elif rt.resource == "selfsubjectaccessreviews":
            out["spec"] = body.get("spec") or {}
            allowed, reason = self.authorizer.authorize(self._review_attributes(user, out["spec"]))
            out["status"] = {"allowed": allowed}
            if reason:
                out["status"]["reason"] = reason
        else:
            out["spec"] = body.get("spec") or {}
            out["status"] = self._rules_review(user, out["spec"].get("namespace", ""))
        return out

    @staticmethod
    def _review_attributes(user: UserInfo, spec: dict) -> Attributes:
        res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes") or {}
        if res is None:
            return Attributes(user=user, verb=non.get("verb", ""), path=non.get("path", ""))
        return Attributes(user=user, verb=res.get("verb", ""), path="", resource_request=True,
                          api_group=res.get("group", ""), api_version=res.get("version", ""),
                          resource=res.get("resource", ""), subresource=res.get("subresource", ""),
                          namespace=res.get("namespace", ""), name=res.get("name", ""))

    def _rules_review(self, user: UserInfo, namespace: str) -> dict:
        found, errors = self.authorizer.applicable(user, namespace)
        rules = [r for _, rs in found for r in rs]
        resource = [{k: r[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if r.get(k)}
                    for r in rules if r.get("resources")]
        non = [{"verbs": r["verbs"], "nonResourceURLs": r["nonResourceURLs"]}
               for r in rules if r.get("nonResourceURLs")]
        status = {"resourceRules": resource, "nonResourceRules": non, "incomplete": False}
        if errors:
            status["evaluationError"] = "; ".join(errors)
        return status


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until HOST:PORT accepts a TCP connection (no sleeps)."""
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if datetime.datetime.now() > deadline:
                raise
