"""`kubectl usercert create`: what lands on disk, what the certificate says, what is refused."""

import base64
import datetime
import json
import os
import stat
import subprocess

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import pki
from helpers import SERVER, ca_args, load_cert, run_cli, run_here


def subject_pairs(cert):
    return [(attr.oid, attr.value) for attr in cert.subject]


def load_kubeconfig(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def kubeconfig_cert(config):
    return x509.load_pem_x509_certificate(
        base64.b64decode(config["users"][0]["user"]["client-certificate-data"])
    )


def create(capsys, *args):
    """A create that succeeds, run in this process."""
    result = run_here(capsys, "create", *args)
    assert result.returncode == 0, result.stderr
    return result


def test_original_form_writes_key_cert_and_kubeconfig(signing_ca, isolated, capsys):
    result = create(capsys, "alice", "developers", *ca_args(signing_ca), "--server", SERVER)
    folder = isolated / "clients" / "alice"
    assert sorted(os.listdir(folder)) == ["alice.crt", "alice.key", "kubeconfig"]
    cert = load_cert(folder / "alice.crt")
    assert subject_pairs(cert) == [
        (NameOID.ORGANIZATION_NAME, "developers"),
        (NameOID.COMMON_NAME, "alice"),
    ]
    assert cert.public_key().key_size == 4096  # the original's RSA 4096 stays the default
    assert "kubectl --kubeconfig clients/alice/kubeconfig auth whoami" in result.stderr
    assert result.stdout == ""  # people read stderr; stdout is for -o


def test_kubeadm_client_profile_and_random_serial(signing_ca, isolated, capsys):
    create(
        capsys,
        "alice",
        "-g",
        "dev",
        "--key-type",
        "ecdsa",
        *ca_args(signing_ca),
        "--server",
        SERVER,
    )
    create(
        capsys, "bob", "-g", "dev", "--key-type", "ecdsa", *ca_args(signing_ca), "--server", SERVER
    )
    alice = load_cert(isolated / "clients/alice/alice.crt")
    bob = load_cert(isolated / "clients/bob/bob.crt")
    assert alice.serial_number != bob.serial_number
    assert alice.serial_number.bit_length() > 100  # 128 random bits, not the original's fixed 2
    assert alice.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = alice.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_encipherment
    assert list(alice.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    alice.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    aki = alice.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert (
        aki.key_identifier
        == signing_ca.cert.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest
    )
    alice.verify_directly_issued_by(signing_ca.cert)
    validity = alice.not_valid_after_utc - alice.not_valid_before_utc
    assert validity == datetime.timedelta(
        days=365, minutes=5
    )  # from five minutes back, as kube signs


@pytest.mark.parametrize(
    "key_type,size,expected",
    [
        ("rsa", "2048", (2048, True)),
        ("ecdsa", "384", (384, False)),
        ("ed25519", None, (None, False)),
    ],
)
def test_key_types(signing_ca, isolated, key_type, size, expected, capsys):
    sizes = ["--key-size", size] if size else []
    create(
        capsys, "carol", "--key-type", key_type, *sizes, *ca_args(signing_ca), "--server", SERVER
    )
    cert = load_cert(isolated / "clients/carol/carol.crt")
    assert getattr(cert.public_key(), "key_size", None) == expected[0]
    assert (
        cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment is expected[1]
    )
    key = serialization.load_pem_private_key(
        open(isolated / "clients/carol/carol.key", "rb").read(), None
    )
    assert key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_private_modes_whatever_the_umask(signing_ca, isolated):
    old = os.umask(0)
    try:
        result = run_cli(
            "create",
            "alice",
            "dev",
            "--key-type",
            "ecdsa",
            *ca_args(signing_ca),
            "--server",
            SERVER,
        )
        assert result.returncode == 0, result.stderr
    finally:
        os.umask(old)
    folder = isolated / "clients/alice"
    assert stat.S_IMODE(os.stat(isolated / "clients").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / "alice.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder / "kubeconfig").st_mode) == 0o600


def test_kubeconfig_loads_in_real_kubectl(signing_ca, isolated, capsys):
    create(
        capsys,
        "alice",
        "dev",
        "--key-type",
        "ecdsa",
        *ca_args(signing_ca),
        "--server",
        SERVER,
        "-n",
        "team-a",
    )
    view = subprocess.run(
        [
            "kubectl",
            "config",
            "view",
            "--kubeconfig",
            "clients/alice/kubeconfig",
            "--minify",
            "--raw",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    config = json.loads(view.stdout)
    assert config["current-context"] == "alice@kubernetes"
    assert config["contexts"][0]["context"] == {
        "cluster": "kubernetes",
        "user": "alice",
        "namespace": "team-a",
    }
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == SERVER
    # No kubeconfig at all: the signing CA stands in for the cluster CA.
    assert (
        base64.b64decode(cluster["certificate-authority-data"])
        == open(signing_ca.cert_path, "rb").read()
    )
    assert kubeconfig_cert(config).subject.rfc4514_string() == "CN=alice,O=dev"
    assert config["users"][0]["user"]["client-key-data"]


def test_json_output_on_stdout_quiet_on_stderr(signing_ca, capsys):
    result = create(
        capsys,
        "alice",
        "dev",
        "--key-type",
        "ecdsa",
        *ca_args(signing_ca),
        "--server",
        SERVER,
        "-o",
        "json",
        "-q",
    )
    record = json.loads(result.stdout)
    assert (record["apiVersion"], record["kind"]) == (
        "usercert.kubectl.io/v1alpha1",
        "UserCertificate",
    )
    status = record["status"]
    assert (
        record["spec"] == {"user": "alice", "groups": ["dev"]}
        and record["metadata"]["name"] == "alice"
    )
    cert = load_cert(status["certificate"])
    assert status["serial"] == format(cert.serial_number, "X").rjust(len(status["serial"]), "0")
    assert status["credentialID"] == "X509SHA256=" + cert.fingerprint(hashes.SHA256()).hex()
    assert status["signer"] == "local"
    assert result.stderr == ""


def test_yaml_output(signing_ca, capsys):
    result = create(
        capsys,
        "alice",
        "--key-type",
        "ecdsa",
        *ca_args(signing_ca),
        "--server",
        SERVER,
        "-o",
        "yaml",
    )
    assert yaml.safe_load(result.stdout)["spec"]["groups"] == []


def test_ca_from_environment(signing_ca, isolated):
    env = dict(
        os.environ,
        USERCERT_CA_CERT=str(signing_ca.cert_path),
        USERCERT_CA_KEY=str(signing_ca.key_path),
    )
    result = run_cli("create", "alice", "--key-type", "ecdsa", "--server", SERVER, env=env)
    assert result.returncode == 0, result.stderr
    load_cert(isolated / "clients/alice/alice.crt").verify_directly_issued_by(signing_ca.cert)


def test_validity_clipped_to_the_ca_with_a_warning(tmp_path, isolated, capsys):
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=20)
    short_ca = pki.make_ca(tmp_path / "pki", "short-ca", not_after=soon)
    result = create(capsys, "alice", "--key-type", "ecdsa", *ca_args(short_ca), "--server", SERVER)
    assert "validity clipped to 19 days" in result.stderr
    assert load_cert(isolated / "clients/alice/alice.crt").not_valid_after_utc <= soon


def test_encrypted_ca_key_with_passphrase_file(tmp_path, signing_ca, capsys):
    encrypted = tmp_path / "pki/encrypted.key"
    encrypted.write_bytes(
        signing_ca.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret pass"),
        )
    )
    passphrase = tmp_path / "pki/pass.txt"
    passphrase.write_text("s3cret pass\n")
    refused = run_here(
        capsys,
        "create",
        "alice",
        "--ca-cert",
        signing_ca.cert_path,
        "--ca-key",
        encrypted,
        "--server",
        SERVER,
    )
    assert (
        refused.returncode == 2
        and "encrypted" in refused.stderr
        and "--ca-key-passphrase-file" in refused.stderr
    )
    create(
        capsys,
        "alice",
        "--key-type",
        "ecdsa",
        "--ca-cert",
        signing_ca.cert_path,
        "--ca-key",
        encrypted,
        "--ca-key-passphrase-file",
        passphrase,
        "--server",
        SERVER,
    )


def test_through_kubectl_plugin_mechanism(signing_ca, isolated, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl-usercert").symlink_to(
        pki.Path(__file__).resolve().parent.parent / "kubectl-usercert"
    )
    # The launcher runs on `#!/usr/bin/env python3`: make that python3 this one, which has the
    # dependencies, whatever python3 the machine has (a wrapper, so a virtualenv stays one).
    import sys

    (bin_dir / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    result = subprocess.run(
        [
            "kubectl",
            "usercert",
            "create",
            "alice",
            "dev",
            "--key-type",
            "ecdsa",
            *map(str, ca_args(signing_ca)),
            "--server",
            SERVER,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert (isolated / "clients/alice/kubeconfig").exists()
