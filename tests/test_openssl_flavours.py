"""Every openssl the users have: the system one, and each in USERCERT_TEST_OPENSSL (a Mac's
LibreSSL 3.3.6 in CI), first on PATH. The certificates are read back with `cryptography`, and
the results authenticate through real kubectl against the test API server."""

import datetime
import json
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import pki
from helpers import SERVER, ca_args, cli_json, run_cli, tree

KEYS = {
    "rsa": ["--key-type", "rsa", "--key-size", "2048"],
    "ecdsa": ["--key-type", "ecdsa"],
    "ecdsa-384": ["--key-type", "ecdsa", "--key-size", "384"],
    "ed25519": ["--key-type", "ed25519"],
}


def no_ed25519(flavour):
    return flavour.startswith("libressl-")


def load(folder, user):
    cert = x509.load_pem_x509_certificate((folder / f"{user}.crt").read_bytes())
    key = serialization.load_pem_private_key((folder / f"{user}.key").read_bytes(), None)
    return cert, key


def spki(key):
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("key", sorted(KEYS))
def test_create_with_every_key_type(openssl_flavour, signing_ca, isolated, key):
    result = run_cli(
        "create",
        "alice",
        "-g",
        "dev",
        "-g",
        "on call",
        *KEYS[key],
        *ca_args(signing_ca),
        "--server",
        SERVER,
    )
    if key == "ed25519" and no_ed25519(openssl_flavour):
        assert result.returncode == 2, result.stderr
        assert "LibreSSL 3.3.6" in result.stderr and "cannot make Ed25519 keys" in result.stderr
        assert "--key-type ecdsa" in result.stderr and tree(isolated) == []
        return
    assert result.returncode == 0, result.stderr
    cert, private_key = load(isolated / "clients/alice", "alice")
    assert [(a.oid, a.value) for a in cert.subject] == [
        (NameOID.ORGANIZATION_NAME, "dev"),
        (NameOID.ORGANIZATION_NAME, "on call"),
        (NameOID.COMMON_NAME, "alice"),
    ]
    cert.verify_directly_issued_by(signing_ca.cert)
    assert spki(private_key.public_key()) == spki(cert.public_key())
    expected_type = {
        "rsa": rsa.RSAPrivateKey,
        "ecdsa": ec.EllipticCurvePrivateKey,
        "ecdsa-384": ec.EllipticCurvePrivateKey,
        "ed25519": ed25519.Ed25519PrivateKey,
    }[key]
    assert isinstance(private_key, expected_type)
    if key.startswith("ecdsa"):
        # Named curve: cryptography (like Go) refuses keys with explicit curve parameters.
        assert private_key.curve.name == {"ecdsa": "secp256r1", "ecdsa-384": "secp384r1"}[key]
        assert b"BEGIN EC PARAMETERS" not in (isolated / "clients/alice/alice.key").read_bytes()
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment is (
        key == "rsa"
    )
    ca_ski = signing_ca.cert.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value.digest
    assert (
        cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        == ca_ski
    )
    assert cert.serial_number.bit_length() > 100
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(
        days=365, minutes=5
    )  # from five minutes back


def test_inspect_list_whois_and_renew(openssl_flavour, signing_ca, isolated):
    assert (
        run_cli(
            "create",
            "alice",
            "dev",
            "--key-type",
            "ecdsa",
            *ca_args(signing_ca),
            "--server",
            SERVER,
        ).returncode
        == 0
    )
    cert, _ = load(isolated / "clients/alice", "alice")
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    for target in ("alice", "clients/alice/kubeconfig", "clients/alice/alice.crt"):
        record = cli_json("inspect", target, "--ca-cert", signing_ca.cert_path)
        status = record["status"]
        assert record["spec"] == {"user": "alice", "groups": ["dev"]}
        assert status["credentialID"] == "X509SHA256=" + fingerprint
        assert int(status["serial"], 16) == cert.serial_number
        assert status["notAfter"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert status["notBefore"] == cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert (status["keyType"], status["keySize"]) == ("ECDSA", 256)
        assert status["keyMatches"] is True and status["chainValid"] is True
    [row] = cli_json("list")["items"]
    assert row["spec"]["user"] == "alice" and row["status"]["state"] == "valid"
    [match] = cli_json("whois", fingerprint.upper())["status"]["matches"]
    assert match["user"] == "alice"

    renewed = run_cli("renew", "alice", "--days", "30", *ca_args(signing_ca))
    assert renewed.returncode == 0, renewed.stderr
    new, key = load(isolated / "clients/alice", "alice")
    assert new.serial_number != cert.serial_number and new.public_key() == cert.public_key()
    assert new.not_valid_after_utc - new.not_valid_before_utc == datetime.timedelta(
        days=30, minutes=5
    )
    rekeyed = run_cli("renew", "alice", "--rekey", "-g", "ops", *ca_args(signing_ca))
    assert rekeyed.returncode == 0, rekeyed.stderr
    newest, newest_key = load(isolated / "clients/alice", "alice")
    assert newest.public_key() != new.public_key() and spki(newest_key.public_key()) == spki(
        newest.public_key()
    )
    assert [a.value for a in newest.subject] == ["ops", "alice"]


@pytest.mark.parametrize("form", ["pem", "der", "pem-after-text"])
def test_sign_a_users_own_request(openssl_flavour, signing_ca, isolated, tmp_path, form):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "b"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "a"),
            x509.NameAttribute(NameOID.COMMON_NAME, "bob"),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    data = {
        "pem": csr.public_bytes(serialization.Encoding.PEM),
        "der": csr.public_bytes(serialization.Encoding.DER),
        "pem-after-text": b"Certificate Request:\n"
        + b"    comment line\n" * 400
        + csr.public_bytes(serialization.Encoding.PEM),
    }[form]
    path = tmp_path / "bob.req"
    path.write_bytes(data)
    result = run_cli(
        "sign",
        "--csr",
        path,
        "--user",
        "bob",
        "-g",
        "a",
        "-g",
        "b",
        *ca_args(signing_ca),
        "--server",
        SERVER,
    )
    assert result.returncode == 0, result.stderr
    cert = x509.load_pem_x509_certificate((isolated / "clients/bob/bob.crt").read_bytes())
    assert cert.public_key() == key.public_key()
    assert [a.value for a in cert.subject] == ["b", "a", "bob"]  # the request's own order
    cert.verify_directly_issued_by(signing_ca.cert)


def test_demo(openssl_flavour, tmp_path):
    record = cli_json("demo", "--dir", tmp_path / "demo")
    certificate = record["status"]["certificate"]["status"]
    assert certificate["chainValid"] is True and certificate["keyMatches"] is True
    ca = x509.load_pem_x509_certificate((tmp_path / "demo/ca.crt").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    cert = x509.load_pem_x509_certificate(open(certificate["certificate"], "rb").read())
    cert.verify_directly_issued_by(ca)


def test_an_intermediate_client_ca(openssl_flavour, tmp_path, isolated):
    root = pki.make_ca(tmp_path / "pki", "root-ca")
    intermediate = pki.make_intermediate_ca(root, tmp_path / "pki")
    assert (
        run_cli(
            "create", "alice", "--key-type", "ecdsa", *ca_args(intermediate), "--server", SERVER
        ).returncode
        == 0
    )
    cert = x509.load_pem_x509_certificate((isolated / "clients/alice/alice.crt").read_bytes())
    cert.verify_directly_issued_by(intermediate.cert)
    record = cli_json("inspect", "alice", "--ca-cert", intermediate.cert_path)
    # LibreSSL cannot check a chain that ends at an intermediate; it says so rather than guess.
    assert record["status"]["chainValid"] is (
        None if openssl_flavour.startswith("libressl-") else True
    )


@pytest.mark.parametrize("key", ["rsa", "ecdsa", "ed25519"])
def test_the_cluster_accepts_what_each_openssl_made(openssl_flavour, live_cluster, key):
    if key == "ed25519" and no_ed25519(openssl_flavour):
        pytest.skip(f"{openssl_flavour} cannot make Ed25519 keys (refusal tested above)")
    made = run_cli("create", "alice", "dev", *KEYS[key], *live_cluster.ca_args)
    assert made.returncode == 0, made.stderr
    whoami = live_cluster.kubectl("clients/alice/kubeconfig", "auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    seen = json.loads(whoami.stdout)["status"]["userInfo"]
    assert (seen["username"], seen["groups"]) == ("alice", ["dev", "system:authenticated"])
    assert run_cli("renew", "alice", "--rekey", *live_cluster.ca_args).returncode == 0
    again = live_cluster.kubectl("clients/alice/kubeconfig", "auth", "whoami", "-o", "json")
    assert again.returncode == 0, again.stderr


def test_openssls_own_complaint_reaches_the_user(openssl_flavour, signing_ca, isolated, tmp_path):
    garbage = tmp_path / "garbage.key"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    result = run_cli(
        "create",
        "alice",
        "--key-type",
        "ecdsa",
        "--ca-cert",
        signing_ca.cert_path,
        "--ca-key",
        garbage,
        "--server",
        SERVER,
    )
    assert result.returncode != 0
    assert "error: openssl could not read the CA key" in result.stderr
    details = result.stderr.split("\n", 1)[1]
    assert "usage" not in details.lower() and "-in file" not in details
    assert any(word in details.lower() for word in ("decode", "load", "read", "bad", "error")), (
        result.stderr
    )
    assert tree(isolated) == []


@pytest.mark.parametrize(
    "version", ["OpenSSL 1.0.2k-fips  26 Jan 2017", "LibreSSL 2.8.3", "BoringSSL"]
)
def test_an_unsupported_openssl_is_refused_at_the_start(
    signing_ca, isolated, tmp_path, monkeypatch, version
):
    shim = tmp_path / "old-bin"
    shim.mkdir()
    (shim / "openssl").write_text(
        f"#!/bin/sh\n[ \"$1\" = version ] && echo '{version}' && exit 0\n"
        "echo 'this shim does nothing else' >&2; exit 1\n"
    )
    (shim / "openssl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    result = run_cli(
        "create", "alice", "--key-type", "ecdsa", *ca_args(signing_ca), "--server", SERVER
    )
    assert result.returncode == 4, result.stderr
    assert "OpenSSL 1.1.1 or newer, or LibreSSL 3.3.6 or newer" in result.stderr
    assert "shim does nothing" not in result.stderr and tree(isolated) == []


def test_usercert_openssl_names_the_binary(signing_ca, isolated, tmp_path, monkeypatch):
    monkeypatch.setenv("USERCERT_OPENSSL", str(tmp_path / "no-such-openssl"))
    result = run_cli(
        "create", "alice", "--key-type", "ecdsa", *ca_args(signing_ca), "--server", SERVER
    )
    assert result.returncode == 4 and "USERCERT_OPENSSL" in result.stderr
    assert tree(isolated) == []


@pytest.mark.parametrize(
    "user,groups",
    [("alice", ["dev"]), ("eve/O=system:masters", ["a+O=x", "équipe"]), ("josé 名前 🚀", [])],
)
def test_hours_with_the_local_ca(openssl_flavour, signing_ca, isolated, user, groups):
    """--expiration in hours with the CA key here: `openssl ca` with the exact start and end (five
    minutes back)."""
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    group_args = [arg for group in groups for arg in ("-g", group)]
    result = run_cli(
        "create",
        user,
        *group_args,
        "--key-type",
        "ecdsa",
        "--expiration",
        "8h",
        *ca_args(signing_ca),
        "--server",
        SERVER,
        "-o",
        "json",
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)["status"]
    cert = x509.load_pem_x509_certificate(open(status["certificate"], "rb").read())
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(
        hours=8, minutes=5
    )
    assert (
        before - FIVE_MINUTES
        <= cert.not_valid_before_utc
        <= before - FIVE_MINUTES + datetime.timedelta(minutes=1)
    )
    assert [(a.oid, a.value) for a in cert.subject] == [
        (NameOID.ORGANIZATION_NAME, g) for g in groups
    ] + [(NameOID.COMMON_NAME, user)]
    assert all(a._type.name in ("UTF8String", "PrintableString") for a in cert.subject)
    cert.verify_directly_issued_by(signing_ca.cert)
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    folder = os.path.dirname(status["certificate"])
    assert sorted(f.split(".")[-1] for f in os.listdir(folder)) == [
        "crt",
        "key",
        "kubeconfig",
    ]  # no CA database


FIVE_MINUTES = datetime.timedelta(minutes=5)


@pytest.mark.parametrize(
    "flag, lifetime",
    [
        (["--days", "30"], datetime.timedelta(days=30)),
        (["--expiration", "90m"], datetime.timedelta(minutes=90)),
    ],
)
def test_a_new_certificate_starts_five_minutes_back(
    openssl_flavour, signing_ca, isolated, flag, lifetime
):
    """A client whose clock runs a little ahead accepts it: notBefore is five minutes before it was
    issued (as the cluster's own signer has it), notAfter the lifetime after it was issued."""
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    result = run_cli(
        "create",
        "alice",
        "dev",
        "--key-type",
        "ecdsa",
        *flag,
        *ca_args(signing_ca),
        "--server",
        SERVER,
    )
    after = datetime.datetime.now(datetime.timezone.utc)
    assert result.returncode == 0, result.stderr
    cert, _ = load(isolated / "clients/alice", "alice")
    assert before - FIVE_MINUTES <= cert.not_valid_before_utc <= after - FIVE_MINUTES
    assert before + lifetime <= cert.not_valid_after_utc <= after + lifetime
    cert.verify_directly_issued_by(signing_ca.cert)
