"""CertificateSigningRequests (certificates.k8s.io/v1): the registry strategy, the admission
plugins, the approval subresource and the signer that kube-controller-manager runs for
kubernetes.io/kube-apiserver-client."""
import base64
import copy
import datetime
import json
import re
import secrets
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .authentication import MASTERS, UserInfo
from .errors import APIError, method_not_allowed
from .rbac import Attributes, RBACAuthorizer
from .resources import ResourceType
from .timestamps import _go_time, _timestamp

if TYPE_CHECKING:
    from .server import APIServer

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
