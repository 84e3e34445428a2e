"""Throwaway PKI for tests, built with the `cryptography` package.

Everything is written as PEM into a caller-given directory (normally under
pytest's tmp_path). `cryptography` is the independent oracle of the test
suite, so nothing here runs openssl.
"""

import base64
import datetime
import ipaddress
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Tuple, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PathLike = Union[str, "os.PathLike[str]"]

EKU_OIDS = {
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
}

# Backdated a little so a cert made "now" is valid for a server whose clock
# reads a few milliseconds differently.
_BACKDATE = datetime.timedelta(minutes=5)
_DEFAULT_LIFETIME = datetime.timedelta(days=2)


@dataclass
class CA:
    name: str
    cert_path: Path
    key_path: Path
    cert: x509.Certificate
    key: object  # a cryptography private key


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class _RSAKeys:
    """RSA keys are slow to make (50 ms each, where an EC key takes 0.02 ms), and the CAs most tests
    sign with are RSA, as kubeadm's and k3s's are: a run makes each key once and hands it out again
    in the next test. Within one test every key is a new one (a second CA never shares the first
    one's key), as when each was made on the spot; conftest calls next_test() before each test. (So a
    fixture that outlives one test must not make its RSA keys here.)"""

    def __init__(self):
        self._made, self._handed_out, self._lock = [], 0, threading.Lock()

    def next_test(self):
        with self._lock:
            self._handed_out = 0

    def take(self):
        with self._lock:
            if self._handed_out == len(self._made):
                self._made.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
            self._handed_out += 1
            return self._made[self._handed_out - 1]


RSA_KEYS = _RSAKeys()


def new_key(key_type: str = "ec"):
    """A private key: "ec" (P-256), "rsa" (2048, see _RSAKeys) or "ed25519"."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return RSA_KEYS.take()
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError("unknown key_type %r" % key_type)


def _sign_hash(key):
    # Ed25519 signs without a separate digest; cryptography wants None.
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _write_private(path: Path, data: bytes) -> Path:
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(str(path), 0o600)  # whatever the umask or a pre-existing file
    return path


def _write_pair(directory: Path, stem: str, cert, key) -> Tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / (stem + ".crt")
    key_path = directory / (stem + ".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return cert_path, key_path


def _validity(not_before, not_after):
    nb = not_before if not_before is not None else _now() - _BACKDATE
    na = not_after if not_after is not None else _now() + _DEFAULT_LIFETIME
    return nb, na


def _builder(subject: x509.Name, issuer: x509.Name, public_key, not_before, not_after):
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _issued_by(builder, ca: CA):
    ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
    )


def _key_usage(key, *, cert_sign=False):
    # keyEncipherment only makes sense for RSA keys (as kubeadm does).
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        key_encipherment=isinstance(key, rsa.RSAPrivateKey) and not cert_sign,
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca(
    directory: PathLike,
    name: str = "test-ca",
    *,
    not_before: Optional[datetime.datetime] = None,
    not_after: Optional[datetime.datetime] = None,
    key_type: str = "ec",
) -> CA:
    """A self-signed CA written as DIRECTORY/NAME.crt and NAME.key."""
    key = new_key(key_type)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    # A CA outlives the leaves it signs by default.
    nb, na = _validity(not_before, not_after or _now() + datetime.timedelta(days=30))
    cert = (
        _builder(subject, subject, key.public_key(), nb, na)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(key, cert_sign=True), critical=True)
        .sign(key, _sign_hash(key))
    )
    cert_path, key_path = _write_pair(Path(directory), name, cert, key)
    return CA(name=name, cert_path=cert_path, key_path=key_path, cert=cert, key=key)


def make_intermediate_ca(
    root: CA, directory: PathLike, name: str = "intermediate-ca", *, key_type: str = "ec"
) -> CA:
    """A CA signed by `root` (not self-signed), as some clusters' client CAs are."""
    key = new_key(key_type)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    nb, na = _validity(None, _now() + datetime.timedelta(days=29))
    cert = (
        _issued_by(_builder(subject, root.cert.subject, key.public_key(), nb, na), root)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key, cert_sign=True), critical=True)
        .sign(root.key, _sign_hash(root.key))
    )
    cert_path, key_path = _write_pair(Path(directory), name, cert, key)
    return CA(name=name, cert_path=cert_path, key_path=key_path, cert=cert, key=key)


def _san(hosts: Iterable[str]) -> x509.SubjectAlternativeName:
    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def make_server_cert(
    ca: CA, directory: PathLike, hosts: Sequence[str] = ("127.0.0.1", "localhost")
) -> Tuple[Path, Path]:
    """A serving cert (serverAuth, IP/DNS SANs) signed by CA."""
    key = new_key("ec")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else "server")])
    nb, na = _validity(None, None)
    cert = (
        _issued_by(_builder(subject, ca.cert.subject, key.public_key(), nb, na), ca)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(key), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_san(hosts), critical=False)
        .sign(ca.key, _sign_hash(ca.key))
    )
    return _write_pair(Path(directory), "server", cert, key)


def _client_subject(cn: Optional[str], orgs: Sequence[str]) -> x509.Name:
    # Attributes are set exactly as given: a CN like "alice/O=system:masters"
    # stays one literal CN value.
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _stem_for(cn: Optional[str]) -> str:
    if not cn:
        return "client-nocn"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in cn)
    return "client-" + safe


def make_client_cert(
    ca: CA,
    directory: PathLike,
    cn: Optional[str],
    orgs: Sequence[str] = (),
    *,
    eku: Optional[Sequence[str]] = ("clientAuth",),
    not_before: Optional[datetime.datetime] = None,
    not_after: Optional[datetime.datetime] = None,
    key_type: str = "ec",
    filename_stem: Optional[str] = None,
    subject: Optional[x509.Name] = None,
) -> Tuple[Path, Path]:
    """A client cert signed by CA; eku=None leaves out the EKU extension.

    `subject` overrides cn/orgs for hand-built names (multi-valued RDNs,
    several CNs).
    """
    key = new_key(key_type)
    name = subject if subject is not None else _client_subject(cn, orgs)
    nb, na = _validity(not_before, not_after)
    builder = (
        _issued_by(_builder(name, ca.cert.subject, key.public_key(), nb, na), ca)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(key), critical=True)
    )
    if eku is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([EKU_OIDS[u] for u in eku]), critical=False
        )
    cert = builder.sign(ca.key, _sign_hash(ca.key))
    return _write_pair(Path(directory), filename_stem or _stem_for(cn), cert, key)


def _b64(path: PathLike) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def write_kubeconfig(
    path: PathLike,
    server_url: str,
    ca_cert_path: PathLike,
    client_cert_path: Optional[PathLike],
    client_key_path: Optional[PathLike],
    *,
    cluster: str = "test",
    user: str = "u",
    context: str = "test",
) -> Path:
    """A kubeconfig with inlined *-data fields, mode 0600.

    JSON is valid YAML, so no YAML library is needed. client_cert_path=None
    writes a user without credentials (anonymous requests).
    """
    import json

    user_entry = {}
    if client_cert_path is not None:
        user_entry["client-certificate-data"] = _b64(client_cert_path)
        user_entry["client-key-data"] = _b64(client_key_path)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server_url, "certificate-authority-data": _b64(ca_cert_path)},
            }
        ],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_private(path, (json.dumps(config, indent=2) + "\n").encode())
