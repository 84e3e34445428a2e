"""CertificateSigningRequests (certificates.k8s.io/v1): the registry strategy (who filed a request,
create validation) and the CertificateSubjectRestriction admission plugin. The approval
subresource is in csr_approval, the kube-apiserver-client signer in csr_signer."""

import base64
import copy
import datetime
import json
import re
from typing import TYPE_CHECKING, List, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .authentication import MASTERS
from .errors import APIError
from .rbac import Attributes
from .resources import ResourceType

if TYPE_CHECKING:
    from .server import APIServer

CERTIFICATES_GROUP = "certificates.k8s.io"
KUBE_APISERVER_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
CLUSTER_SIGNING_DURATION = datetime.timedelta(days=365)  # --cluster-signing-duration's default
_INT32_MAX = 2**31 - 1
VALID_USAGES = sorted(
    [
        "signing",
        "digital signature",
        "content commitment",
        "key encipherment",
        "key agreement",
        "data encipherment",
        "cert sign",
        "crl sign",
        "encipher only",
        "decipher only",
        "any",
        "server auth",
        "client auth",
        "code signing",
        "email protection",
        "s/mime",
        "ipsec end system",
        "ipsec tunnel",
        "ipsec user",
        "timestamping",
        "ocsp signing",
        "microsoft sgc",
        "netscape sgc",
    ]
)

Cause = Tuple[str, str, str]  # (reason, field, body) of a metav1.StatusCause


def invalid(rt: ResourceType, name: str, causes: List[Cause]) -> APIError:
    """errors.NewInvalid; kubectl prints 'The KIND "NAME" is invalid: field: body'."""
    texts = ["%s: %s" % (field, body) for _, field, body in causes]
    aggregate = texts[0] if len(texts) == 1 else "[%s]" % ", ".join(texts)
    return APIError(
        422,
        "Invalid",
        '%s.%s "%s" is invalid: %s' % (rt.kind, rt.group, name, aggregate),
        {
            "name": name,
            "group": rt.group,
            "kind": rt.kind,
            "causes": [{"reason": r, "message": body, "field": f} for r, f, body in causes],
        },
    )


def admission_forbidden(rt: ResourceType, name: str, message: str) -> APIError:
    """admission.NewForbidden: what a validating admission plugin's refusal looks like."""
    return APIError(
        403,
        "Forbidden",
        '%s "%s" is forbidden: %s' % (rt.qualified, name, message),
        {"name": name, "group": rt.group, "kind": rt.resource},
    )


def _cannot_decode(rt: ResourceType, detail: str) -> APIError:
    return APIError(
        400,
        "BadRequest",
        '%s in version "%s" cannot be handled as a %s: %s' % (rt.kind, rt.version, rt.kind, detail),
    )


def _json_type(value) -> str:
    """How Go's encoding/json names a JSON value's type in an UnmarshalTypeError."""
    return {bool: "bool", int: "number", float: "number", list: "array", dict: "object"}.get(
        type(value), "value"
    )


def _check_csr_decodable(rt: ResourceType, spec: dict) -> None:
    """What Go's JSON decoding into CertificateSigningRequestSpec refuses (before any validation)."""
    request = spec.get("request", "")
    if not isinstance(request, str):
        raise _cannot_decode(
            rt,
            "json: cannot unmarshal %s into Go struct field CertificateSigningRequestSpec."
            "spec.request of type []uint8" % _json_type(request),
        )
    text = request.replace("\r", "").replace("\n", "")  # Go's base64 decoder skips line breaks
    bad = re.search(r"[^A-Za-z0-9+/=]|=[^=]", text)
    if bad or len(text) % 4:
        raise _cannot_decode(
            rt, "illegal base64 data at input byte %d" % (bad.start() if bad else len(text))
        )
    seconds = spec.get("expirationSeconds")
    if seconds is not None and (
        not isinstance(seconds, int)
        or isinstance(seconds, bool)
        or not -_INT32_MAX - 1 <= seconds <= _INT32_MAX
    ):
        raise _cannot_decode(
            rt,
            "json: cannot unmarshal %s into Go struct field CertificateSigningRequestSpec."
            "spec.expirationSeconds of type int32"
            % ("number %s" % seconds if isinstance(seconds, (int, float)) else "value"),
        )


def parse_csr_request(request_b64: str) -> x509.CertificateSigningRequest:
    """certificates.ParseCSR on spec.request; ValueError carries Go's text."""
    pem = base64.b64decode(request_b64 or "")
    block = re.search(rb"-----BEGIN ([^-]*)-----", pem)
    if block is None or block.group(1) != b"CERTIFICATE REQUEST":
        raise ValueError("PEM block type must be CERTIFICATE REQUEST")
    try:
        return x509.load_pem_x509_csr(pem[block.start() :])
    except ValueError:
        raise ValueError("x509: malformed certificate request") from None


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
        causes.append(
            (
                "FieldValueInvalid",
                "spec.request",
                "Invalid value: %s: %s" % (json.dumps(request), problem),
            )
        )
    usages = spec.get("usages") or []
    if not usages:
        causes.append(
            ("FieldValueRequired", "spec.usages", "Required value: usages must be provided")
        )
    for i, usage in enumerate(usages):
        if usage not in VALID_USAGES:
            causes.append(
                (
                    "FieldValueNotSupported",
                    "spec.usages[%d]" % i,
                    "Unsupported value: %s: supported "
                    "values: %s" % (json.dumps(usage), _quoted(VALID_USAGES)),
                )
            )
    for i, usage in enumerate(usages):
        if usage in usages[:i]:
            causes.append(
                (
                    "FieldValueDuplicate",
                    "spec.usages[%d]" % i,
                    "Duplicate value: %s" % json.dumps(usage),
                )
            )
    signer = spec.get("signerName") or ""
    if not signer:
        causes.append(
            ("FieldValueRequired", "spec.signerName", "Required value: signerName must be provided")
        )
    elif signer.count("/") != 1 or "." not in signer.split("/")[0]:
        causes.append(
            (
                "FieldValueInvalid",
                "spec.signerName",
                "Invalid value: %s: must be a fully qualified domain "
                "and path of the form 'example.com/signer-name'" % json.dumps(signer),
            )
        )
    seconds = spec.get("expirationSeconds")
    if seconds is not None and seconds < 600:
        causes.append(
            (
                "FieldValueInvalid",
                "spec.expirationSeconds",
                "Invalid value: %d: may not specify a "
                "duration less than 600 seconds (10 minutes)" % seconds,
            )
        )
    return causes


class CSRStrategy:
    """csrStrategy (pkg/registry/certificates/certificates/strategy.go) with the validating admission
    plugin CertificateSubjectRestriction; the approval admission plugin is in `csr_approval`."""

    def prepare_for_create(
        self, server: "APIServer", rt: ResourceType, a: Attributes, obj: dict
    ) -> dict:
        obj = copy.deepcopy(obj)
        spec = obj.setdefault("spec", {})
        _check_csr_decodable(rt, spec)
        for key in ("username", "uid", "groups", "extra"):  # who asked is the server's to say
            spec.pop(key, None)
        spec["username"], spec["groups"] = a.user.name, list(a.user.groups)
        if a.user.uid:  # omitempty: an x509 user has no uid
            spec["uid"] = a.user.uid
        if (
            a.user.extra
        ):  # map[string]ExtraValue: the credential id of the certificate that filed it
            spec["extra"] = a.user.extra_map()
        obj["status"] = {}  # nobody creates a pre-approved request
        name = (obj.get("metadata") or {}).get("name") or ""
        causes = validate_csr_spec(spec)
        if causes:
            raise invalid(rt, name, causes)
        if spec.get("signerName") == KUBE_APISERVER_CLIENT_SIGNER:
            subject = parse_csr_request(spec["request"]).subject
            if MASTERS in [
                o.value for o in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
            ]:
                raise admission_forbidden(
                    rt,
                    name,
                    "use of %s signer with system:masters group is not allowed"
                    % KUBE_APISERVER_CLIENT_SIGNER,
                )
        return obj

    def prepare_for_update(
        self, server: "APIServer", rt: ResourceType, a: Attributes, new: dict, old: dict
    ) -> dict:
        """A plain update changes metadata only: spec and status are the old ones."""
        new = copy.deepcopy(new)
        for key in ("spec", "status"):
            if key in old:
                new[key] = copy.deepcopy(old[key])
            else:
                new.pop(key, None)
        return new
