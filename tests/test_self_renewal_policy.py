"""The checks of `approve` one by one, on requests as the API server stores them (no cluster): what
the end-to-end tests in test_approve.py do not reach (RSA usages, other subject attributes, several
CNs, a cluster that does not name the credential, unreadable requests, the right not granted)."""

import base64
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from kubectl_usercert.operations.self_renewal_policy import judge
from kubectl_usercert.pki.request_der import read_request
from kubectl_usercert.pki.signers.cluster_csr import self_renewal_name
from kubectl_usercert.store.ledger import LedgerEntry

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
FINGERPRINT = "ab" * 32


def latest(**changes):
    values = dict(
        event="issued",
        user="bob",
        groups=("dev",),
        serial="01",
        fingerprint_sha256=FINGERPRINT,
        not_before=NOW - timedelta(hours=1),
        not_after=NOW + timedelta(hours=1),
        lifetime="2h",
        self_renew=True,
    )
    values.update(changes)
    return LedgerEntry(**values)


def pem(names, key="ec"):
    private = (
        ec.generate_private_key(ec.SECP256R1())
        if key == "ec"
        else rsa.generate_private_key(65537, 2048)
        if key == "rsa"
        else key
    )
    subject = x509.Name([x509.NameAttribute(oid, value) for oid, value in names])
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .sign(private, None if isinstance(private, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


BOB = [(NameOID.ORGANIZATION_NAME, "dev"), (NameOID.COMMON_NAME, "bob")]


def request(names=BOB, key="ec", usages=("client auth", "digital signature"), extra=True, **spec):
    body = {
        "request": base64.b64encode(pem(names, key)).decode(),
        "signerName": "kubernetes.io/kube-apiserver-client",
        "usages": list(usages),
        "expirationSeconds": 7200,
        "username": "bob",
        "groups": ["dev", "system:authenticated"],
        **spec,
    }
    if extra:
        body["extra"] = {
            "authentication.kubernetes.io/credential-id": [f"X509SHA256={FINGERPRINT}"]
        }
    return {
        "metadata": {
            "name": self_renewal_name("bob"),
            "resourceVersion": "7",
            "labels": {"usercert.kubectl.io/purpose": "self-renewal"},
        },
        "spec": body,
    }


def decide(obj, record=None):
    return judge(obj, lambda user: record if record is not None else latest(), NOW)


def test_a_good_renewal_is_approved_with_the_credential_that_filed_it():
    decision = decide(request())
    assert (decision.action, decision.reason) == ("approve", "UsercertSelfRenewal")
    assert f"X509SHA256={FINGERPRINT}" in decision.message and not decision.notes


def test_rsa_may_add_key_encipherment_and_nothing_else_may():
    rsa_usages = ("client auth", "digital signature", "key encipherment")
    assert decide(request(key="rsa", usages=rsa_usages)).action == "approve"
    assert decide(request(usages=rsa_usages)).reason == "Usages"
    assert (
        decide(request(usages=("client auth", "digital signature", "server auth"))).reason
        == "Usages"
    )
    assert decide(request(usages=("client auth",))).reason == "Usages"


@pytest.mark.parametrize(
    "names, reason",
    [
        (BOB + [(NameOID.ORGANIZATIONAL_UNIT_NAME, "x")], "SubjectAttributes"),
        (BOB + [(NameOID.COMMON_NAME, "bob")], "SubjectNotAUser"),
        ([(NameOID.ORGANIZATION_NAME, "dev")], "SubjectNotAUser"),
        ([(NameOID.COMMON_NAME, "bob")], "GroupsDiffer"),
        ([(NameOID.ORGANIZATION_NAME, "dev")] * 2 + [(NameOID.COMMON_NAME, "bob")], "GroupsDiffer"),
    ],
)
def test_the_subject_must_be_exactly_the_recorded_one(names, reason):
    assert decide(request(names)).reason == reason


def test_groups_must_be_held_by_the_requester():
    assert decide(request(groups=["system:authenticated"])).reason == "GroupsNotHeld"


def test_the_ledger_decides():
    assert decide(request(), latest(self_renew=None)).reason == "SelfRenewalNotGranted"
    assert decide(request(), latest(event="revoked", time=NOW)).reason == "UserRevoked"
    expired = latest(not_after=NOW - timedelta(minutes=1))
    assert decide(request(), expired).reason == "LatestCertificateExpired"
    assert judge(request(), lambda user: None, NOW).reason == "UnknownUser"
    assert decide(request(expirationSeconds=7201)).reason == "ExpirationTooLong"
    assert decide(request(expirationSeconds="7200")).reason == "ExpirationMissing"


def test_without_a_credential_id_it_approves_and_says_what_it_could_not_check():
    decision = decide(request(extra=False))
    assert decision.action == "approve" and "credential" in decision.notes[0]
    other = request(extra=False)
    other["spec"]["extra"] = {"authentication.kubernetes.io/credential-id": ["JTI=abc"]}
    assert decide(other).reason == "NotTheLatestCertificate"


def test_unreadable_requests_and_other_names():
    garbled = request()
    garbled["spec"]["request"] = base64.b64encode(
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"
    ).decode()
    assert decide(garbled).reason == "RequestUnreadable"
    renamed = request()
    renamed["metadata"]["name"] = "usercert-renew-someone-else"
    assert decide(renamed).reason == "NotTheRenewalName"
    unlabelled = request()
    unlabelled["metadata"] = {"name": "bobs-own"}
    assert decide(unlabelled).action == "leave"


def test_the_request_reader_sees_what_openssl_would():
    facts = read_request(pem(BOB + [(NameOID.EMAIL_ADDRESS, "b@x")], key="rsa"))
    assert facts.key_type == "RSA" and facts.organizations == ("dev",)
    assert facts.common_names == ["bob"] and facts.other_attributes == ["1.2.840.113549.1.9.1"]
    with pytest.raises(ValueError):
        read_request(b"\x30\x03\x02\x01\x00")


def with_request(text):
    obj = request()
    obj["spec"]["request"] = base64.b64encode(text).decode()
    return obj


def test_only_one_pem_request_and_nothing_else_is_judged():
    """The signer reads the first block (Go's pem.Decode allows headers): a first block with a
    header asking for system:masters before a good one must not be approved on the good one."""
    masters = pem([(NameOID.ORGANIZATION_NAME, "system:masters"), (NameOID.COMMON_NAME, "bob")])
    with_header = masters.replace(b"-----\n", b"-----\nX-Note: hi\n\n", 1)
    assert (
        x509.load_pem_x509_csr(with_header + pem(BOB))
        .subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0]
        .value
        == "system:masters"
    )  # what the signer would sign
    for text in (with_header + pem(BOB), pem(BOB) + pem(BOB), pem(BOB) + b"trailing"):
        assert decide(with_request(text)).reason == "RequestUnreadable"
    assert decide(with_request(b"\n" + pem(BOB) + b"\n")).action == "approve"


def test_a_key_the_tool_refuses_elsewhere_is_not_renewed():
    rsa_usages = ("client auth", "digital signature", "key encipherment")
    small = rsa.generate_private_key(65537, 1024)
    assert decide(request(key=small, usages=rsa_usages)).reason == "KeyNotAccepted"
    assert decide(request(key=ec.generate_private_key(ec.SECP256K1()))).reason == "KeyNotAccepted"
    assert decide(request(key=ed25519.Ed25519PrivateKey.generate())).action == "approve"
    assert decide(request(key=ec.generate_private_key(ec.SECP384R1()))).action == "approve"
    assert read_request(pem(BOB, key="rsa")).key_bits == 2048


def test_without_a_recorded_lifetime_no_length_is_approved():
    unbounded = latest(lifetime=None, not_before=None)
    assert decide(request(expirationSeconds=2**31 - 1), unbounded).reason == "ExpirationTooLong"
