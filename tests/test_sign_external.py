"""`sign --csr`: a user's own request signed; their key never reaches the admin."""

import json
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from helpers import SERVER, run_here, tree


def user_request(directory, cn, orgs, extra=()):
    """What a user does on their own machine: a key and a CSR (made with cryptography, not this tool)."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = (
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
        + list(extra)
        + [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(names))
        .sign(key, hashes.SHA256())
    )
    key_path, csr_path = directory / f"{cn}.key", directory / f"{cn}.csr"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    csr_path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return key_path, csr_path, key


def sign(capsys, ca, csr_path, *args):
    return run_here(
        capsys,
        "sign",
        "--csr",
        csr_path,
        *args,
        "--ca-cert",
        ca.cert_path,
        "--ca-key",
        ca.key_path,
        "--server",
        SERVER,
    )


def test_round_trip_owner_adds_their_key(signing_ca, isolated, tmp_path, capsys):
    key_path, csr_path, key = user_request(tmp_path, "bob", ["dev"])
    result = sign(capsys, signing_ca, csr_path, "--user", "bob", "-g", "dev", "-o", "json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)["status"]
    assert record["key"] is None and record["ownerInstructions"][0].startswith(
        "kubectl usercert import kubeconfig"
    )
    folder = isolated / "clients/bob"
    assert sorted(p.name for p in folder.iterdir()) == [
        "bob.crt",
        "kubeconfig",
    ]  # no key, no CSR kept
    config = (folder / "kubeconfig").read_text()
    assert "client-key" not in config
    cert = x509.load_pem_x509_certificate((folder / "bob.crt").read_bytes())
    assert cert.public_key() == key.public_key()
    cert.verify_directly_issued_by(signing_ca.cert)
    # An owner without the plugin can still add their key by hand, with real kubectl.
    subprocess.run(
        [
            "kubectl",
            "config",
            "set-credentials",
            "bob",
            "--kubeconfig",
            str(folder / "kubeconfig"),
            "--client-key",
            str(key_path),
            "--embed-certs",
        ],
        check=True,
        capture_output=True,
    )
    view = subprocess.run(
        [
            "kubectl",
            "config",
            "view",
            "--kubeconfig",
            str(folder / "kubeconfig"),
            "--raw",
            "-o",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert set(json.loads(view.stdout)["users"][0]["user"]) == {
        "client-certificate-data",
        "client-key-data",
    }


@pytest.mark.parametrize(
    "cn,orgs,user,groups",
    [
        ("bob", ["dev", "system:masters-ish"], "bob", ["dev"]),  # a group the admin did not name
        ("bob", ["dev"], "alice", ["dev"]),  # another user
        ("bob", [], "bob", ["dev"]),  # a group missing
    ],
)
def test_subject_must_be_what_the_admin_names(
    signing_ca, isolated, tmp_path, cn, orgs, user, groups, capsys
):
    _, csr_path, _ = user_request(tmp_path, cn, orgs)
    group_args = [arg for group in groups for arg in ("-g", group)]
    result = sign(capsys, signing_ca, csr_path, "--user", user, *group_args)
    assert result.returncode == 2 and "subject is" in result.stderr and "hint:" in result.stderr
    assert tree(isolated) == []


def test_extra_subject_attributes_are_refused(signing_ca, isolated, tmp_path, capsys):
    extra = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ops")]
    _, csr_path, _ = user_request(tmp_path, "bob", ["dev"], extra)
    result = sign(capsys, signing_ca, csr_path, "--user", "bob", "-g", "dev")
    assert result.returncode == 2 and "OU=ops" in result.stderr


def test_tampered_request_is_refused(signing_ca, isolated, tmp_path, capsys):
    _, csr_path, _ = user_request(tmp_path, "bob", ["dev"])
    der = bytearray(
        x509.load_pem_x509_csr(csr_path.read_bytes()).public_bytes(serialization.Encoding.DER)
    )
    der[-3] ^= 0xFF  # inside the signature
    bad = tmp_path / "bad.csr"
    bad.write_bytes(bytes(der))
    result = sign(capsys, signing_ca, bad, "--user", "bob", "-g", "dev")
    assert result.returncode == 1 and "does not verify" in result.stderr
    assert tree(isolated) == []


def test_der_request_is_accepted(signing_ca, isolated, tmp_path, capsys):
    _, csr_path, key = user_request(tmp_path, "bob", ["dev"])
    der = tmp_path / "bob.der"
    der.write_bytes(
        x509.load_pem_x509_csr(csr_path.read_bytes()).public_bytes(serialization.Encoding.DER)
    )
    result = sign(capsys, signing_ca, der, "--user", "bob", "-g", "dev")
    assert result.returncode == 0, result.stderr
    cert = x509.load_pem_x509_certificate((isolated / "clients/bob/bob.crt").read_bytes())
    assert cert.public_key() == key.public_key()


def test_csr_switch_is_required(isolated, capsys):
    result = run_here(capsys, "sign", "--user", "bob")
    assert (
        result.returncode == 2 and 'error: required flag(s) "csr" not set' in result.stderr
    )  # as cobra says it
