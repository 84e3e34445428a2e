"""What a second look at the security properties found, kept fixed."""

import datetime
import json
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import pki
from helpers import SERVER, run_cli, run_here, tree
from kubectl_usercert.errors import UsercertError
from kubectl_usercert.operations.issue import check_issued
from kubectl_usercert.pki import openssl
from kubectl_usercert.pki.subject import make_subject


def print_rbac(capsys, ca, user, *args):
    return run_here(
        capsys,
        "create",
        user,
        *args,
        "--key-type",
        "ecdsa",
        "--ca-cert",
        ca.cert_path,
        "--ca-key",
        ca.key_path,
        "--server",
        SERVER,
        "--print-rbac",
        "--force",
    )


def binding_names(result):
    import yaml

    return [
        doc["metadata"]["name"]
        for doc in yaml.safe_load_all(result.stdout)
        if doc["kind"].endswith("Binding")
    ]


def test_binding_names_never_collide(signing_ca, isolated, capsys):
    names = [
        binding_names(print_rbac(capsys, signing_ca, user, "--clusterrole", "view"))
        for user in ("a/b", "a~b", "a%b")
    ]
    assert len({tuple(n) for n in names}) == 3


def test_bind_group_refuses_system_groups(signing_ca, isolated, capsys):
    result = print_rbac(
        capsys,
        signing_ca,
        "bob",
        "-g",
        "system:unauthenticated",
        "--bind-group",
        "--clusterrole",
        "view",
    )
    assert result.returncode == 2 and "system group" in result.stderr
    assert result.stdout == "" and tree(isolated) == []


def test_terminal_escapes_in_a_certificate_are_shown_harmlessly(signing_ca, tmp_path, capsys):
    cert, _ = pki.make_client_cert(
        signing_ca, tmp_path, "x\x1b[2J\x1b]52;c;aGk=\x07\u202eevil", ["dev"], filename_stem="esc"
    )
    result = run_here(capsys, "inspect", cert)
    assert result.returncode == 0
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
    assert "\\x1b[2J" in result.stderr


def test_weak_keys_in_a_users_request_are_refused(signing_ca, isolated, tmp_path, capsys):
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bob")]))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "weak.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    result = run_here(
        capsys,
        "sign",
        "--csr",
        path,
        "--user",
        "bob",
        "--ca-cert",
        signing_ca.cert_path,
        "--ca-key",
        signing_ca.key_path,
        "--server",
        SERVER,
    )
    assert result.returncode == 2 and "1024-bit RSA key is not accepted" in result.stderr
    assert tree(isolated) == []


class _TrustingSigner:
    """A signer whose chain check passes, so check_issued's own checks are what is tested."""

    def chains(self, _cert_path):
        return True


def test_a_returned_ca_certificate_is_refused(signing_ca):
    info = openssl.certificate_info(str(signing_ca.cert_path))
    with pytest.raises(UsercertError, match="is a CA certificate"):
        check_issued(
            info,
            str(signing_ca.cert_path),
            info.public_key,
            make_subject("client-ca", []),
            _TrustingSigner(),
        )


def test_a_returned_expired_certificate_is_refused(signing_ca, tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)
    cert, _ = pki.make_client_cert(
        signing_ca,
        tmp_path,
        "alice",
        ["dev"],
        filename_stem="old",
        not_before=now - datetime.timedelta(days=3),
        not_after=now - datetime.timedelta(days=1),
    )
    info = openssl.certificate_info(str(cert))
    with pytest.raises(UsercertError, match="not valid now"):
        check_issued(
            info, str(cert), info.public_key, make_subject("alice", ["dev"]), _TrustingSigner()
        )


def test_binding_of_the_same_name_for_someone_else_is_not_taken_over(live_cluster, isolated):
    taken = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "usercert:ops:view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "someone-else"}
        ],
    }
    assert live_cluster.admin("apply", "-f", "-", stdin=json.dumps(taken)).returncode == 0
    result = run_cli(
        "create", "ops", "--key-type", "ecdsa", "--clusterrole", "view", *live_cluster.ca_args
    )
    assert result.returncode == 2 and "binds something else" in result.stderr
    assert not (isolated / "clients").exists()
    kept = json.loads(
        live_cluster.admin("get", "clusterrolebinding", "usercert:ops:view", "-o", "json").stdout
    )
    assert kept["subjects"][0]["name"] == "someone-else"


def test_trailing_escaped_space_is_compared_exactly(signing_ca, isolated, tmp_path, capsys):
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(tmp_path / "k")], check=True
    )
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-key",
            str(tmp_path / "k"),
            "-subj",
            "/CN=alice\\ ",
            "-out",
            str(tmp_path / "r.csr"),
        ],
        check=True,
    )
    result = run_here(
        capsys,
        "sign",
        "--csr",
        tmp_path / "r.csr",
        "--user",
        "alice\\",
        "--ca-cert",
        signing_ca.cert_path,
        "--ca-key",
        signing_ca.key_path,
        "--server",
        SERVER,
    )
    assert result.returncode == 2 and "subject is" in result.stderr


@pytest.mark.parametrize(
    "payload,needle",
    [
        (b"not base64 at all!", "not base64 PEM"),
        (None, "holds 2 certificates"),
        (b"", "holds 0 certificates"),
    ],
)
def test_the_csr_signer_takes_exactly_one_certificate(signing_ca, payload, needle):
    import base64

    from kubectl_usercert.pki.signers.cluster_csr import ClusterCSRSigner

    pem = signing_ca.cert.public_bytes(serialization.Encoding.PEM)
    encoded = (
        base64.b64encode(pem + pem).decode()
        if payload is None
        else (payload.decode() if payload.endswith(b"!") else base64.b64encode(payload).decode())
    )
    signer = ClusterCSRSigner(kubectl=None, user="alice")
    signer.object_name = "usercert-alice-1234"
    with pytest.raises(UsercertError, match=needle):
        signer._single_certificate(encoded)
    assert signer._single_certificate(base64.b64encode(pem).decode()) == pem


def test_requests_with_ambiguous_string_types_are_refused(signing_ca, isolated, tmp_path, capsys):
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.name import _ASN1Type

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "\u00c3\u00a9ric", _type=_ASN1Type.T61String)]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    path = tmp_path / "t61.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    result = run_here(
        capsys,
        "sign",
        "--csr",
        path,
        "--user",
        "\u00c3\u00a9ric",
        "--ca-cert",
        signing_ca.cert_path,
        "--ca-key",
        signing_ca.key_path,
        "--server",
        SERVER,
    )
    assert result.returncode == 2 and "T61STRING" in result.stderr
    assert tree(isolated) == []
