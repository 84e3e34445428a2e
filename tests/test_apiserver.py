"""The test API server, proved with real kubectl binaries.

Every case drives the server through kubectl as a user would; the request
log is read only to check *why* the server answered as it did.
"""

import base64
import datetime
import http.client
import json
import os
import re
import ssl
import subprocess
from pathlib import Path
from typing import Dict, Optional, Sequence

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

import apiserver
import pki
from apiserver import APIServer
from apiserver.tables import csr_condition_column
from conftest import LiveCluster as Cluster
from conftest import default_kubectl
from helpers import whoami

SDK_BIN = Path("/usr/lib/google-cloud-sdk/bin")
KUBECTLS = [pytest.param(Path("/usr/bin/kubectl"), id="usr-bin")] + [
    pytest.param(SDK_BIN / ("kubectl.1.%d" % minor), id="1.%d" % minor) for minor in range(27, 34)
]
UNAUTHORIZED = "error: You must be logged in to the server (Unauthorized)"

BLOG_RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: read-only-user
rules:
- apiGroups: [""]
  resources: ["pods", "namespaces"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: read-only-user
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: read-only-user
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: brancz
"""


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(str(path), os.X_OK)


def require(binary: Path) -> Path:
    """Skip only the case whose kubectl is missing."""
    if not _runnable(binary):
        pytest.skip("%s is not installed" % binary)
    return binary


@pytest.fixture
def cluster(live_cluster):
    """The one live-cluster harness (conftest.LiveCluster)."""
    return live_cluster


def _hours(n: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=n)


# -- authentication --------------------------------------------------------


@pytest.mark.parametrize("key_type", ["rsa", "ec", "ed25519"])
@pytest.mark.parametrize("binary", KUBECTLS)
def test_whoami_reports_cn_and_organizations(cluster, binary, key_type):
    kubeconfig = cluster.credentials("alice", ["dev", "ops"], key_type=key_type)

    user = whoami(cluster, kubeconfig, require(binary))

    assert user == {"username": "alice", "groups": ["dev", "ops", "system:authenticated"]}


def test_literal_cn_containing_an_o_is_not_a_group(cluster):
    kubeconfig = cluster.credentials("alice/O=system:masters")

    assert whoami(cluster, kubeconfig) == {
        "username": "alice/O=system:masters",
        "groups": ["system:authenticated"],
    }
    denied = cluster.kubectl(kubeconfig, "get", "pods")
    assert denied.returncode != 0
    assert 'User "alice/O=system:masters" cannot list resource "pods"' in denied.stderr


def test_last_cn_is_the_user_and_every_o_is_a_group(cluster):
    # O=b sits in a multi-valued RDN with OU: Go still finds it, in order.
    name = x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "a")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "first")]),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "b"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ignored"),
                ]
            ),
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "last")]),
        ]
    )
    kubeconfig = cluster.credentials(None, subject=name)

    assert whoami(cluster, kubeconfig) == {
        "username": "last",
        "groups": ["a", "b", "system:authenticated"],
    }


def test_certificate_without_cn_is_anonymous(cluster):
    kubeconfig = cluster.credentials(None, ["dev"])

    result = cluster.kubectl(kubeconfig, "get", "pods")

    assert result.returncode == 1
    assert (
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" '
        'in the namespace "default"'
    ) in result.stderr
    request = cluster.server.records(path="/api/v1/namespaces/default/pods")[-1]
    assert (request.user, request.groups, request.status) == (
        "system:anonymous",
        ("system:unauthenticated",),
        403,
    )


def test_no_certificate_is_anonymous(cluster):
    # Not through kubectl: for a kubeconfig user without credentials kubectl
    # prompts "Please enter Username:" instead of going anonymous.
    context = ssl.create_default_context(cafile=str(cluster.server_ca.cert_path))
    conn = http.client.HTTPSConnection(
        "127.0.0.1", cluster.server.port, context=context, timeout=30
    )

    statuses = {}
    for path in ("/version", "/api", "/api/v1/namespaces/default/pods"):
        conn.request("GET", path)
        response = conn.getresponse()
        statuses[path] = (response.status, json.loads(response.read()).get("message"))
    conn.close()

    assert statuses["/version"][0] == statuses["/api"][0] == 200
    assert statuses["/api/v1/namespaces/default/pods"] == (
        403,
        (
            'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" '
            'in the namespace "default"'
        ),
    )
    assert {r.user for r in cluster.server.records()} == {"system:anonymous"}


@pytest.mark.parametrize(
    "reason, cert_options",
    [
        ("expired", dict(not_before=_hours(-48), not_after=_hours(-1))),
        ("not yet valid", dict(not_before=_hours(1), not_after=_hours(48))),
        ("incompatible key usage", dict(eku=("serverAuth",))),
    ],
)
def test_server_refuses_unusable_client_certificates(cluster, reason, cert_options):
    kubeconfig = cluster.credentials("mallory", ["system:masters"], **cert_options)

    result = cluster.kubectl(kubeconfig, "auth", "whoami")

    assert result.returncode == 1
    assert UNAUTHORIZED in result.stderr
    refused = cluster.server.records(status=401)
    assert refused and {(r.user, r.reason) for r in refused} == {(None, reason)}


def test_server_accepts_a_certificate_without_eku(cluster):
    kubeconfig = cluster.credentials("bob", ["dev"], eku=None)

    assert whoami(cluster, kubeconfig) == {
        "username": "bob",
        "groups": ["dev", "system:authenticated"],
    }


def test_split_ca_client_cert_must_come_from_the_client_ca(cluster):
    good = cluster.credentials("carol", ["dev"])
    # The k3s mistake: signing user certs with the CA from the kubeconfig.
    wrong_ca = cluster.credentials("carol", ["system:masters"], ca=cluster.server_ca)

    assert whoami(cluster, good)["username"] == "carol"
    result = cluster.kubectl(wrong_ca, "auth", "whoami")
    assert result.returncode == 1
    assert UNAUTHORIZED in result.stderr
    assert {(r.user, r.reason) for r in cluster.server.records(status=401)} == {
        (None, "unknown authority")
    }


def test_split_ca_kubeconfig_must_carry_the_server_ca(cluster):
    cert, key = pki.make_client_cert(cluster.client_ca, cluster.root, "carol")
    trusting_client_ca = pki.write_kubeconfig(
        cluster.root / "wrong.kubeconfig",
        cluster.server.url,
        cluster.client_ca.cert_path,
        cert,
        key,
    )

    result = cluster.kubectl(trusting_client_ca, "auth", "whoami")

    assert result.returncode == 1
    assert "x509: certificate signed by unknown authority" in result.stderr


def test_concurrent_kubectl_processes(cluster):
    kubeconfigs = [cluster.credentials("user%d" % i) for i in range(6)]
    argv = lambda k: [  # noqa: E731
        str(default_kubectl()),
        "--kubeconfig",
        str(k),
        "auth",
        "whoami",
        "-o",
        "json",
    ]

    procs = [subprocess.Popen(argv(k), stdout=subprocess.PIPE, text=True) for k in kubeconfigs]
    names = [
        json.loads(p.communicate(timeout=60)[0])["status"]["userInfo"]["username"] for p in procs
    ]

    assert names == ["user%d" % i for i in range(6)]


# -- the blog scenario: RBAC through real kubectl ---------------------------


@pytest.fixture
def blog(cluster, tmp_path):
    manifest = tmp_path / "read-only-user.yaml"
    manifest.write_text(BLOG_RBAC)
    admin = cluster.credentials("admin", ["system:masters"])
    return cluster, admin, manifest


def test_blog_scenario_read_only_user(blog):
    cluster, admin, manifest = blog
    brancz = cluster.credentials("brancz", ["read-only"])
    eve = cluster.credentials("eve", ["other"])

    created = cluster.kubectl(admin, "create", "-f", str(manifest))
    assert created.returncode == 0, created.stderr
    assert "clusterrolebinding.rbac.authorization.k8s.io/read-only-user created" in created.stdout

    pods = cluster.kubectl(brancz, "get", "pods")
    assert pods.returncode == 0, pods.stderr
    assert pods.stdout.split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert "web-0" in pods.stdout

    denied = cluster.kubectl(eve, "get", "pods")
    assert denied.returncode == 1
    assert denied.stderr.strip() == (
        'Error from server (Forbidden): pods is forbidden: User "eve" cannot list resource "pods" '
        'in API group "" in the namespace "default"'
    )

    assert cluster.kubectl(brancz, "auth", "can-i", "list", "pods").stdout.strip() == "yes"
    assert cluster.kubectl(eve, "auth", "can-i", "list", "pods").stdout.strip() == "no"


def test_forbidden_at_cluster_scope(blog):
    cluster, _, _ = blog
    eve = cluster.credentials("eve", ["other"])

    denied = cluster.kubectl(eve, "get", "clusterrolebindings")

    assert denied.stderr.strip() == (
        "Error from server (Forbidden): clusterrolebindings.rbac.authorization.k8s.io is forbidden: "
        'User "eve" cannot list resource "clusterrolebindings" in API group '
        '"rbac.authorization.k8s.io" at the cluster scope'
    )


@pytest.mark.parametrize("binary", KUBECTLS)
def test_create_and_apply_validate_against_the_server(blog, binary):
    cluster, admin, manifest = blog
    kubectl = lambda *a: cluster.kubectl(admin, *a, binary=require(binary))  # noqa: E731

    first = kubectl("apply", "-f", str(manifest))
    again = kubectl("apply", "-f", str(manifest))
    duplicate = kubectl("create", "-f", str(manifest))

    assert first.returncode == 0, first.stderr
    assert first.stdout.split("\n")[:2] == [
        "clusterrole.rbac.authorization.k8s.io/read-only-user created",
        "clusterrolebinding.rbac.authorization.k8s.io/read-only-user created",
    ]
    assert again.stdout.split("\n")[:2] == [
        "clusterrole.rbac.authorization.k8s.io/read-only-user unchanged",
        "clusterrolebinding.rbac.authorization.k8s.io/read-only-user unchanged",
    ]
    assert (
        'clusterroles.rbac.authorization.k8s.io "read-only-user" already exists' in duplicate.stderr
    )
    posts = [r for r in cluster.server.records() if r.method == "POST" and "rbac" in r.path]
    assert posts and all("fieldValidation=Strict" in r.query for r in posts)


def test_apply_after_create_configures_then_is_unchanged(blog):
    cluster, admin, manifest = blog

    cluster.kubectl(admin, "create", "-f", str(manifest))
    configured = cluster.kubectl(admin, "apply", "-f", str(manifest))
    unchanged = cluster.kubectl(admin, "apply", "-f", str(manifest))

    assert "clusterrole.rbac.authorization.k8s.io/read-only-user configured" in configured.stdout
    assert (
        "missing the kubectl.kubernetes.io/last-applied-configuration annotation"
        in configured.stderr
    )
    assert unchanged.stdout.count("unchanged") == 2


def test_label_selector_and_typed_create_commands(blog):
    cluster, admin, _ = blog
    # kubectl's typed create commands send protobuf bodies.
    made = cluster.kubectl(
        admin,
        "create",
        "rolebinding",
        "eve-edit",
        "--clusterrole=edit",
        "--user=eve",
        "-n",
        "kube-system",
    )
    labeled = cluster.kubectl(
        admin, "label", "rolebinding", "eve-edit", "team=blue", "-n", "kube-system"
    )
    listed = cluster.kubectl(admin, "get", "rolebindings", "-A", "-l", "team=blue", "-o", "name")

    assert made.returncode == 0 and labeled.returncode == 0, made.stderr + labeled.stderr
    assert listed.stdout.split() == ["rolebinding.rbac.authorization.k8s.io/eve-edit"]
    binding = cluster.server.get(
        "rbac.authorization.k8s.io/v1", "RoleBinding", "eve-edit", "kube-system"
    )
    assert binding["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "eve"}
    ]
    eve = cluster.credentials("eve")
    assert (
        cluster.kubectl(eve, "auth", "can-i", "delete", "pods", "-n", "kube-system").stdout.strip()
        == "yes"
    )
    assert cluster.kubectl(eve, "auth", "can-i", "delete", "pods").stdout.strip() == "no"


@pytest.mark.parametrize("binary", KUBECTLS)
def test_server_side_dry_run_checks_everything_and_stores_nothing(blog, binary):
    """dryRun=All as kube-apiserver answers it: the object as it would be, every check made (RBAC,
    existence, admission), nothing persisted."""
    cluster, admin, manifest = blog
    kubectl = lambda *a, who=admin: cluster.kubectl(who, *a, binary=require(binary))  # noqa: E731
    rbac_api = "rbac.authorization.k8s.io/v1"

    planned = kubectl("apply", "--dry-run=server", "-f", str(manifest))
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.split("\n")[:2] == [
        "clusterrole.rbac.authorization.k8s.io/read-only-user created (server dry run)",
        "clusterrolebinding.rbac.authorization.k8s.io/read-only-user created (server dry run)",
    ]
    assert not [
        b
        for b in cluster.server.list(rbac_api, "ClusterRoleBinding")
        if b["metadata"]["name"] == "read-only-user"
    ]
    dry_posts = [
        r for r in cluster.server.records() if r.method == "POST" and "dryRun=All" in r.query
    ]
    assert len(dry_posts) == 2

    assert kubectl("apply", "-f", str(manifest)).returncode == 0
    before = cluster.server.get(rbac_api, "ClusterRoleBinding", "read-only-user")
    changed = cluster.kubectl(
        admin,
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        binary=require(binary),
        stdin=BLOG_RBAC.replace("brancz", "eve"),
    )
    assert (
        "clusterrolebinding.rbac.authorization.k8s.io/read-only-user configured (server dry run)"
        in changed.stdout
    )
    deleted = kubectl("delete", "--dry-run=server", "clusterrolebinding", "read-only-user")
    assert (
        deleted.stdout.strip()
        == 'clusterrolebinding.rbac.authorization.k8s.io "read-only-user" deleted (server dry run)'
    ), deleted.stderr
    assert cluster.server.get(rbac_api, "ClusterRoleBinding", "read-only-user") == before

    again = kubectl("create", "--dry-run=server", "-f", str(manifest))
    assert 'clusterroles.rbac.authorization.k8s.io "read-only-user" already exists' in again.stderr
    eve = cluster.credentials("eve")
    forbidden = kubectl(
        "delete", "--dry-run=server", "clusterrolebinding", "read-only-user", who=eve
    )
    assert (
        "(Forbidden)" in forbidden.stderr
        and 'User "eve" cannot delete resource' in forbidden.stderr
    )
    assert cluster.server.get(rbac_api, "ClusterRoleBinding", "read-only-user") == before


def test_server_side_dry_run_of_a_csr(csr_api):
    cluster, admin = csr_api
    create = lambda m: cluster.kubectl(  # noqa: E731
        admin, "create", "--dry-run=server", "-f", "-", "-o", "json", stdin=json.dumps(m)
    )

    planned = create(csr_manifest("alice-1"))
    assert planned.returncode == 0, planned.stderr
    answer = json.loads(planned.stdout)
    assert answer["spec"]["username"] == "admin" and "resourceVersion" not in answer["metadata"]
    masters = create(csr_manifest("root", "eve", ["dev", "system:masters"]))
    assert (
        "is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters"
        in masters.stderr
    )
    assert cluster.server.list("certificates.k8s.io/v1", "CertificateSigningRequest") == []


def test_masters_cannot_be_taken_away(blog):
    cluster, admin, _ = blog

    deleted = cluster.kubectl(admin, "delete", "clusterrolebinding", "cluster-admin")
    still = cluster.kubectl(admin, "get", "clusterrolebinding", "cluster-admin")

    assert deleted.returncode == 0, deleted.stderr
    assert "NotFound" in still.stderr  # the request itself was still authorized


def test_seeded_objects_and_missing_objects(cluster):
    cluster.server.seed(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "dave-view"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "view",
            },
            "subjects": [{"kind": "Group", "name": "viewers"}],
        }
    )
    dave = cluster.credentials("dave", ["viewers"])

    namespaces = cluster.kubectl(dave, "get", "namespaces", "-o", "name")
    missing = cluster.kubectl(dave, "get", "pod", "nope")

    assert "namespace/kube-system" in namespaces.stdout.split()
    assert missing.stderr.strip() == 'Error from server (NotFound): pods "nope" not found'


def test_unknown_fields_are_refused_like_kube_strict_decoding(blog, tmp_path):
    cluster, admin, _ = blog
    typo = tmp_path / "typo.yaml"
    typo.write_text(BLOG_RBAC.split("---")[0].replace("verbs:", "verb:"))

    strict = cluster.kubectl(admin, "create", "-f", str(typo))
    warned = cluster.kubectl(admin, "create", "-f", str(typo), "--validate=warn")

    assert strict.returncode == 1
    assert (
        'ClusterRole in version "v1" cannot be handled as a ClusterRole: '
        'strict decoding error: unknown field "rules[0].verb"'
    ) in strict.stderr
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "rules[0].verb"' in warned.stderr


def test_fallback_without_ctypes_still_authenticates(tmp_path, monkeypatch):
    def unavailable(context, client_ca_file):
        raise OSError("pretend the SSL_CTX hook cannot be installed")

    monkeypatch.setattr(apiserver.tls, "_request_client_certificate", unavailable)
    server_ca = pki.make_ca(tmp_path / "fb", "server-ca")
    client_ca = pki.make_ca(tmp_path / "fb", "client-ca")
    with APIServer(
        *pki.make_server_cert(server_ca, tmp_path / "fb"), client_ca.cert_path
    ) as server:
        cluster = Cluster(server, server_ca, client_ca, None, tmp_path / "fb")
        good = cluster.credentials("frank", ["dev"])
        expired = cluster.credentials("frank", (), not_before=_hours(-48), not_after=_hours(-1))

        assert server.client_cert_mode == "handshake"
        assert whoami(cluster, good)["username"] == "frank"
        assert UNAUTHORIZED in cluster.kubectl(expired, "auth", "whoami").stderr


# -- the CertificateSigningRequest API -------------------------------------

CSR_API = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"


def csr_manifest(
    name: str,
    cn: str = "alice",
    orgs: Sequence[str] = ("dev",),
    *,
    key=None,
    usages: Sequence[str] = ("client auth", "digital signature"),
    expiration: Optional[int] = 3600,
    renamed_after_signing: Optional[str] = None,
) -> dict:
    """A CertificateSigningRequest for a fresh P-256 key (or `key`), made with cryptography."""
    key = key or pki.new_key("ec")
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
        + [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )
    der = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    if (
        renamed_after_signing
    ):  # same length, so the DER still parses; the signature no longer matches
        der = der.replace(cn.encode(), renamed_after_signing.encode())
    pem = (
        b"-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.encodebytes(der)
        + b"-----END CERTIFICATE REQUEST-----\n"
    )
    spec = {
        "request": base64.b64encode(pem).decode(),
        "signerName": CLIENT_SIGNER,
        "usages": list(usages),
    }
    if expiration is not None:
        spec["expirationSeconds"] = expiration
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": spec,
    }


def as_list(*manifests: dict) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(manifests)})


@pytest.fixture
def csr_api(cluster):
    """The cluster with kube-controller-manager's client signer running on the client CA."""
    cluster.server.sign_csrs_with(cluster.client_ca.cert, cluster.client_ca.key)
    return cluster, cluster.credentials("admin", ["system:masters"])


def issued_certificate(cluster: Cluster, name: str) -> x509.Certificate:
    csr = cluster.server.get("certificates.k8s.io/v1", "CertificateSigningRequest", name)
    return x509.load_pem_x509_certificate(base64.b64decode(csr["status"]["certificate"]))


def conditions(cluster: Cluster, name: str) -> Dict[str, dict]:
    csr = cluster.server.get("certificates.k8s.io/v1", "CertificateSigningRequest", name)
    return {c["type"]: c for c in csr.get("status", {}).get("conditions", [])}


def grant(cluster: Cluster, user: str, *rules: dict) -> None:
    cluster.server.seed(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": user},
            "rules": list(rules),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": user},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": user,
            },
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}],
        },
    )


@pytest.mark.parametrize("binary", KUBECTLS)
def test_csr_create_approve_get_delete(csr_api, binary, tmp_path):
    cluster, admin = csr_api
    kubectl = lambda *a, stdin=None: cluster.kubectl(admin, *a, binary=require(binary), stdin=stdin)  # noqa: E731
    key = pki.new_key("ec")

    created = kubectl("create", "-f", "-", stdin=json.dumps(csr_manifest("alice-1", key=key)))
    pending = kubectl("get", "csr")
    approved = kubectl(
        "certificate", "approve", "alice-1"
    )  # 1.27/1.28 PUT JSON, later ones protobuf
    listed = kubectl("get", "csr")

    assert (
        created.stdout.strip() == "certificatesigningrequest.certificates.k8s.io/alice-1 created"
    ), created.stderr
    assert pending.stdout.split("\n")[0].split() == [
        "NAME",
        "AGE",
        "SIGNERNAME",
        "REQUESTOR",
        "REQUESTEDDURATION",
        "CONDITION",
    ]
    assert pending.stdout.split("\n")[1].split()[2:] == [CLIENT_SIGNER, "admin", "60m", "Pending"]
    assert (
        approved.stdout.strip() == "certificatesigningrequest.certificates.k8s.io/alice-1 approved"
    ), approved.stderr
    assert listed.stdout.split("\n")[1].split()[-1] == "Approved,Issued"
    stored = cluster.server.get("certificates.k8s.io/v1", "CertificateSigningRequest", "alice-1")
    assert (stored["spec"]["username"], stored["spec"]["groups"]) == (
        "admin",
        ["system:masters", "system:authenticated"],
    )
    approval = conditions(cluster, "alice-1")["Approved"]
    assert {k: approval[k] for k in ("status", "reason", "message")} == {
        "status": "True",
        "reason": "KubectlApprove",
        "message": "This CSR was approved by kubectl certificate approve.",
    }
    assert approval["lastUpdateTime"].endswith("Z") and approval["lastTransitionTime"].endswith("Z")
    cert = issued_certificate(cluster, "alice-1")
    assert cert.public_key() == key.public_key()
    cert.verify_directly_issued_by(cluster.client_ca.cert)

    deleted = kubectl("delete", "csr", "alice-1")
    assert deleted.returncode == 0, deleted.stderr
    assert cluster.server.list("certificates.k8s.io/v1", "CertificateSigningRequest") == []


def test_issued_certificate_is_kubes_client_profile_and_authenticates(csr_api, tmp_path):
    cluster, admin = csr_api
    key = pki.new_key("rsa")
    manifest = csr_manifest(
        "carol",
        "carol",
        ["dev", "ops"],
        key=key,
        usages=["digital signature", "key encipherment", "client auth"],
    )
    cluster.kubectl(admin, "create", "-f", "-", stdin=json.dumps(manifest))
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cluster.kubectl(admin, "certificate", "approve", "carol")
    after = datetime.datetime.now(datetime.timezone.utc)

    cert = issued_certificate(cluster, "carol")
    assert cert.subject == x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dev"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ops"),
            x509.NameAttribute(NameOID.COMMON_NAME, "carol"),
        ]
    )
    assert cert.issuer == cluster.client_ca.cert.subject
    ext = {e.oid._name: e for e in cert.extensions}
    assert ext["extendedKeyUsage"].value == x509.ExtendedKeyUsage(
        [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    usage = ext["keyUsage"].value
    assert ext["keyUsage"].critical and usage.digital_signature and usage.key_encipherment
    assert ext["basicConstraints"].critical and ext["basicConstraints"].value.ca is False
    # A short certificate (< 8h): notBefore backdated 5 minutes, notAfter not.
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(
        hours=1, minutes=5
    )
    assert (
        before - datetime.timedelta(minutes=5)
        <= cert.not_valid_before_utc
        <= after - datetime.timedelta(minutes=5)
    )
    assert 0 < cert.serial_number < 2**128

    cert_path = tmp_path / "carol.crt"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = tmp_path / "carol.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    kubeconfig = pki.write_kubeconfig(
        tmp_path / "carol.kubeconfig",
        cluster.server.url,
        cluster.server_ca.cert_path,
        cert_path,
        key_path,
    )
    assert whoami(cluster, kubeconfig) == {
        "username": "carol",
        "groups": ["dev", "ops", "system:authenticated"],
    }


def test_durations_are_clamped_like_the_controller_does(cluster):
    cluster.server.sign_csrs_with(
        cluster.client_ca.cert_path,
        cluster.client_ca.key_path,
        cluster_signing_duration=datetime.timedelta(hours=10),
    )
    admin = cluster.credentials("admin", ["system:masters"])
    cluster.kubectl(
        admin,
        "create",
        "-f",
        "-",
        stdin=as_list(
            csr_manifest("short", expiration=600),
            csr_manifest("eight-hours", expiration=8 * 3600),
            csr_manifest("too-long", expiration=20 * 3600),
            csr_manifest("unasked", expiration=None),
        ),
    )
    cluster.kubectl(admin, "certificate", "approve", "short", "eight-hours", "too-long", "unasked")

    lifetime = lambda name: (lambda c: c.not_valid_after_utc - c.not_valid_before_utc)(  # noqa: E731
        issued_certificate(cluster, name)
    )
    hours = lambda h: datetime.timedelta(hours=h)  # noqa: E731
    assert lifetime("short") == datetime.timedelta(minutes=15)  # 10m asked, plus the 5m backdate
    assert lifetime("eight-hours") == hours(8)  # from 8h on, the end is backdated too
    assert (
        lifetime("too-long") == lifetime("unasked") == hours(10)
    )  # --cluster-signing-duration caps it
    assert (
        len(
            {issued_certificate(cluster, n).serial_number for n in ("short", "too-long", "unasked")}
        )
        == 3
    )


def test_a_one_hour_cluster_signing_duration_from_the_constructor(tmp_path):
    """APIServer(csr_signing_key=..., cluster_signing_duration=...): the signer runs from the start,
    for tests of short-lived certificates."""
    from helpers import running_test_cluster

    pki_dir = tmp_path / "short"
    ca_key = pki_dir / "client-ca.key"  # made by running_test_cluster before the server starts
    with running_test_cluster(
        pki_dir,
        tmp_path / "admin.kubeconfig",
        csr_signing_key=ca_key,
        cluster_signing_duration=datetime.timedelta(hours=1),
    ) as (server, server_ca, client_ca):
        cluster = Cluster(server, server_ca, client_ca, tmp_path / "admin.kubeconfig", pki_dir)
        cluster.admin(
            "create",
            "-f",
            "-",
            stdin=as_list(
                csr_manifest("ten-minutes", expiration=600),
                csr_manifest("half-hour", expiration=1800),
                csr_manifest("two-hours", expiration=7200),
                csr_manifest("unasked", expiration=None),
            ),
        )
        cluster.admin("certificate", "approve", "ten-minutes", "half-hour", "two-hours", "unasked")

        lifetime = lambda name: (lambda c: c.not_valid_after_utc - c.not_valid_before_utc)(  # noqa: E731
            issued_certificate(cluster, name)
        )
        minutes = lambda m: datetime.timedelta(minutes=m)  # noqa: E731
        assert [lifetime(n) for n in ("ten-minutes", "half-hour", "two-hours", "unasked")] == [
            minutes(15),
            minutes(35),
            minutes(65),
            minutes(65),
        ]  # asked, capped at 1h; notBefore 5m back


def test_denied_and_failed_requests_get_no_certificate(csr_api):
    cluster, admin = csr_api
    cluster.kubectl(
        admin,
        "create",
        "-f",
        "-",
        stdin=as_list(
            csr_manifest("denied"),
            csr_manifest("server-too", usages=["client auth", "server auth"]),
            csr_manifest("no-client-auth", usages=["digital signature"]),
        ),
    )

    denied = cluster.kubectl(admin, "certificate", "deny", "denied")
    approved = cluster.kubectl(admin, "certificate", "approve", "server-too", "no-client-auth")
    listed = cluster.kubectl(admin, "get", "csr", "--no-headers")

    assert denied.returncode == 0 and approved.returncode == 0, denied.stderr + approved.stderr
    assert {
        k: conditions(cluster, "denied")["Denied"][k] for k in ("status", "reason", "message")
    } == {
        "status": "True",
        "reason": "KubectlDeny",
        "message": "This CSR was denied by kubectl certificate deny.",
    }
    failed = conditions(cluster, "server-too")["Failed"]
    assert (failed["status"], failed["reason"], failed["message"]) == (
        "True",
        "SignerValidationFailure",
        "invalid usage for client certificate: server auth",
    )
    assert conditions(cluster, "no-client-auth")["Failed"]["message"] == (
        "missing required usage for client certificate: client auth"
    )
    assert {line.split()[0]: line.split()[-1] for line in listed.stdout.splitlines()} == {
        "denied": "Denied",
        "no-client-auth": "Approved,Failed",
        "server-too": "Approved,Failed",
    }
    for name in ("denied", "server-too", "no-client-auth"):
        assert "certificate" not in cluster.server.get(
            "certificates.k8s.io/v1", "CertificateSigningRequest", name
        ).get("status", {})
    again = cluster.kubectl(admin, "certificate", "approve", "denied")
    assert 'certificate signing request "denied" is already Denied' in again.stderr


def test_admission_refuses_system_masters_for_the_client_signer(csr_api):
    cluster, admin = csr_api

    refused = cluster.kubectl(
        admin,
        "create",
        "-f",
        "-",
        stdin=json.dumps(csr_manifest("root", "eve", ["dev", "system:masters"])),
    )

    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": certificatesigningrequests.certificates.k8s.io '
        '"root" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not '
        "allowed"
    )
    assert cluster.server.list("certificates.k8s.io/v1", "CertificateSigningRequest") == []


def test_create_validation_like_kube(csr_api):
    cluster, admin = csr_api
    create = lambda m: cluster.kubectl(admin, "create", "-f", "-", stdin=json.dumps(m))  # noqa: E731

    short = create(csr_manifest("short", expiration=599))
    forged = create(csr_manifest("forged", "alice", renamed_after_signing="mally"))
    int32 = create(csr_manifest("huge", expiration=100 * 365 * 86400))

    assert (
        'The CertificateSigningRequest "short" is invalid: spec.expirationSeconds: Invalid value: 599: may not '
        "specify a duration less than 600 seconds (10 minutes)"
    ) in short.stderr
    assert (
        'The CertificateSigningRequest "forged" is invalid: spec.request: Invalid value: "'
        in forged.stderr
    )
    assert forged.stderr.strip().endswith('": x509: ECDSA verification failure')
    assert (
        "cannot unmarshal number 3153600000 into Go struct field CertificateSigningRequestSpec.spec."
        "expirationSeconds of type int32"
    ) in int32.stderr
    assert cluster.server.list("certificates.k8s.io/v1", "CertificateSigningRequest") == []


def test_approving_needs_update_on_approval_and_approve_on_the_signer(csr_api):
    cluster, admin = csr_api
    read = {
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["certificatesigningrequests"],
        "verbs": ["create", "get", "list", "delete"],
    }
    approval = {
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["certificatesigningrequests/approval"],
        "verbs": ["update"],
    }
    signer = lambda name: {  # noqa: E731
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["signers"],
        "resourceNames": [name],
        "verbs": ["approve"],
    }
    grant(cluster, "requester", read)
    grant(cluster, "half-approver", read, approval)
    grant(cluster, "approver", read, approval, signer(CLIENT_SIGNER))
    grant(cluster, "domain-approver", read, approval, signer("kubernetes.io/*"))
    requester = cluster.credentials("requester")
    made = cluster.kubectl(
        requester, "create", "-f", "-", stdin=as_list(csr_manifest("one"), csr_manifest("two"))
    )
    assert made.returncode == 0, made.stderr

    by_rbac = cluster.kubectl(requester, "certificate", "approve", "one")
    by_admission = cluster.kubectl(
        cluster.credentials("half-approver"), "certificate", "approve", "one"
    )
    by_name = cluster.kubectl(cluster.credentials("approver"), "certificate", "approve", "one")
    by_domain = cluster.kubectl(
        cluster.credentials("domain-approver"), "certificate", "deny", "two"
    )

    assert (
        'certificatesigningrequests.certificates.k8s.io "one" is forbidden: User "requester" cannot update '
        'resource "certificatesigningrequests/approval" in API group "certificates.k8s.io" at the cluster '
        "scope"
    ) in by_rbac.stderr
    assert (
        'certificatesigningrequests.certificates.k8s.io "one" is forbidden: user not permitted to approve '
        'requests with signerName "kubernetes.io/kube-apiserver-client"'
    ) in by_admission.stderr
    assert by_name.returncode == 0 and by_domain.returncode == 0, by_name.stderr + by_domain.stderr
    assert "Approved" in conditions(cluster, "one") and "Denied" in conditions(cluster, "two")
    assert (
        cluster.server.get("certificates.k8s.io/v1", "CertificateSigningRequest", "one")["spec"][
            "username"
        ]
        == "requester"
    )


def test_without_a_signer_approved_requests_wait_for_one(cluster):
    admin = cluster.credentials("admin", ["system:masters"])
    cluster.kubectl(admin, "create", "-f", "-", stdin=json.dumps(csr_manifest("early")))
    cluster.kubectl(admin, "certificate", "approve", "early")
    assert (
        cluster.kubectl(admin, "get", "csr", "early", "--no-headers").stdout.split()[-1]
        == "Approved"
    )

    cluster.server.sign_csrs_with(cluster.client_ca.cert, cluster.client_ca.key)

    assert (
        cluster.kubectl(admin, "get", "csr", "early", "--no-headers").stdout.split()[-1]
        == "Approved,Issued"
    )
    assert cluster.server.csr_signer.errors == []


# -- who filed a request: the requester's identity, credential id included --------

CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


def credential_id_of(kubeconfig: Path) -> str:
    """X509SHA256=<hex> of the kubeconfig's client certificate, computed with cryptography."""
    user = json.loads(Path(kubeconfig).read_text())["users"][0]["user"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    return "X509SHA256=" + cert.fingerprint(hashes.SHA256()).hex()


@pytest.mark.parametrize("binary", KUBECTLS)
def test_whoami_shows_the_certificates_credential_id(cluster, binary):
    kubeconfig = cluster.credentials("alice", ["dev"])

    user = whoami(cluster, kubeconfig, require(binary), extra=True)
    table = cluster.kubectl(kubeconfig, "auth", "whoami", binary=require(binary))

    assert user == {
        "username": "alice",
        "groups": ["dev", "system:authenticated"],
        "extra": {CREDENTIAL_ID: [credential_id_of(kubeconfig)]},
    }
    assert re.search(
        r"Extra: authentication.kubernetes.io/credential-id +\[X509SHA256=[0-9a-f]{64}\]",
        table.stdout,
    )
    other = cluster.credentials(
        "alice", ["dev"]
    )  # the same subject, another certificate: another id
    assert (
        whoami(cluster, other, extra=True)["extra"][CREDENTIAL_ID] != user["extra"][CREDENTIAL_ID]
    )


@pytest.fixture
def csr_requesters(csr_api):
    """csr_api plus alice (group dev), allowed to create and read requests (no approval rights)."""
    cluster, admin = csr_api
    grant(
        cluster,
        "alice",
        {
            "apiGroups": ["certificates.k8s.io"],
            "resources": ["certificatesigningrequests"],
            "verbs": ["create", "get", "list", "watch"],
        },
    )
    return cluster, admin, cluster.credentials("alice", ["dev"])


def test_a_request_records_who_filed_it_whatever_the_client_says(csr_requesters):
    cluster, admin, alice = csr_requesters
    forged = csr_manifest("alice-renewal", "alice")
    forged["spec"].update(
        username="bob",
        uid="1234",
        groups=["system:masters"],
        extra={CREDENTIAL_ID: ["X509SHA256=" + "0" * 64], "scopes": ["all"]},
    )

    made = cluster.kubectl(alice, "create", "-f", "-", stdin=json.dumps(forged))
    shown = json.loads(cluster.kubectl(alice, "get", "csr", "alice-renewal", "-o", "json").stdout)

    assert made.returncode == 0, made.stderr
    assert {
        k: v for k, v in shown["spec"].items() if k in ("username", "uid", "groups", "extra")
    } == {
        "username": "alice",
        "groups": ["dev", "system:authenticated"],
        "extra": {CREDENTIAL_ID: [credential_id_of(alice)]},
    }  # an x509 user has no uid: the field is absent


def test_who_filed_a_request_cannot_be_changed_afterwards(csr_requesters):
    cluster, admin, alice = csr_requesters
    cluster.kubectl(
        alice, "create", "-f", "-", stdin=json.dumps(csr_manifest("alice-renewal", "alice"))
    )
    before = cluster.server.get(
        "certificates.k8s.io/v1", "CertificateSigningRequest", "alice-renewal"
    )["spec"]
    lie = {
        "spec": {
            "username": "bob",
            "groups": ["ops"],
            "extra": {CREDENTIAL_ID: ["X509SHA256=" + "1" * 64]},
        }
    }

    patched = cluster.kubectl(
        admin, "patch", "csr", "alice-renewal", "--type=merge", "-p", json.dumps(lie)
    )
    csr = json.loads(cluster.kubectl(admin, "get", "csr", "alice-renewal", "-o", "json").stdout)
    csr["spec"].update(lie["spec"])
    csr["status"]["conditions"] = [
        {"type": "Approved", "status": "True", "reason": "R", "message": "M"}
    ]
    approved = cluster.kubectl(
        admin,
        "replace",
        "--raw",
        f"{CSR_API}/alice-renewal/approval",
        "-f",
        "-",
        stdin=json.dumps(csr),
    )

    assert patched.returncode == 0 and approved.returncode == 0, patched.stderr + approved.stderr
    assert (
        cluster.server.get("certificates.k8s.io/v1", "CertificateSigningRequest", "alice-renewal")[
            "spec"
        ]
        == before
    )


def test_an_older_cluster_sets_no_credential_id(tmp_path):
    server_ca = pki.make_ca(tmp_path / "old", "server-ca")
    client_ca = pki.make_ca(tmp_path / "old", "client-ca")
    with APIServer(
        *pki.make_server_cert(server_ca, tmp_path / "old"),
        client_ca.cert_path,
        credential_ids=False,
    ) as server:
        cluster = Cluster(server, server_ca, client_ca, None, tmp_path / "old")
        admin = cluster.credentials("admin", ["system:masters"])

        made = cluster.kubectl(
            admin, "create", "-f", "-", stdin=json.dumps(csr_manifest("alice-1"))
        )
        user = whoami(cluster, admin, extra=True)

        assert made.returncode == 0, made.stderr
        assert user == {"username": "admin", "groups": ["system:masters", "system:authenticated"]}
        spec = server.get("certificates.k8s.io/v1", "CertificateSigningRequest", "alice-1")["spec"]
        assert (spec["username"], "extra" in spec, "uid" in spec) == ("admin", False, False)


# -- approving and denying, with a reason and a message ----------------------


def approval_body(cluster: Cluster, name: str, condition: str, reason: str, message: str) -> str:
    """The request as it is, with one more condition: what a PUT to .../approval carries."""
    csr = cluster.server.get("certificates.k8s.io/v1", "CertificateSigningRequest", name)
    csr.setdefault("status", {}).setdefault("conditions", []).append(
        {"type": condition, "status": "True", "reason": reason, "message": message}
    )
    return json.dumps(csr)


@pytest.mark.parametrize("binary", KUBECTLS)
def test_approve_and_deny_with_a_reason_and_a_message_by_replace_raw(csr_api, binary):
    cluster, admin = csr_api
    kubectl = lambda *a, stdin=None: cluster.kubectl(admin, *a, binary=require(binary), stdin=stdin)  # noqa: E731
    kubectl(
        "create",
        "-f",
        "-",
        stdin=as_list(csr_manifest("alice-renewal"), csr_manifest("bob-renewal", "bob")),
    )

    denied = kubectl(
        "replace",
        "--raw",
        f"{CSR_API}/bob-renewal/approval",
        "-f",
        "-",
        stdin=approval_body(
            cluster, "bob-renewal", "Denied", "NotASelfRenewal", "alice may not renew CN=bob"
        ),
    )
    approved = kubectl(
        "replace",
        "--raw",
        f"{CSR_API}/alice-renewal/approval",
        "-f",
        "-",
        stdin=approval_body(
            cluster, "alice-renewal", "Approved", "SelfRenewal", "renews X509SHA256=ab12"
        ),
    )

    assert denied.returncode == 0 and approved.returncode == 0, denied.stderr + approved.stderr
    assert json.loads(denied.stdout)["status"]["conditions"][0]["reason"] == "NotASelfRenewal"
    deny = conditions(cluster, "bob-renewal")["Denied"]
    assert (deny["reason"], deny["message"]) == ("NotASelfRenewal", "alice may not renew CN=bob")
    assert deny["lastUpdateTime"].endswith("Z") and deny["lastTransitionTime"].endswith("Z")
    assert (
        "certificate"
        not in cluster.server.get(
            "certificates.k8s.io/v1", "CertificateSigningRequest", "bob-renewal"
        )["status"]
    )
    approve = conditions(cluster, "alice-renewal")["Approved"]
    assert (approve["reason"], approve["message"]) == ("SelfRenewal", "renews X509SHA256=ab12")
    assert issued_certificate(cluster, "alice-renewal").subject.rfc4514_string() == "CN=alice,O=dev"
    shown = kubectl("get", "csr", "--no-headers")
    assert {line.split()[0]: line.split()[-1] for line in shown.stdout.splitlines()} == {
        "alice-renewal": "Approved,Issued",
        "bob-renewal": "Denied",
    }


@pytest.mark.parametrize("binary", KUBECTLS)
def test_patch_of_the_approval_subresource_needs_kubectl_1_32(csr_api, binary):
    cluster, admin = csr_api
    cluster.kubectl(admin, "create", "-f", "-", stdin=json.dumps(csr_manifest("alice-renewal")))
    deny = {
        "status": {
            "conditions": [
                {
                    "type": "Denied",
                    "status": "True",
                    "reason": "Expired",
                    "message": "the certificate it renews has expired",
                }
            ]
        }
    }

    patched = cluster.kubectl(
        admin,
        "patch",
        "csr",
        "alice-renewal",
        "--subresource=approval",
        "--type=merge",
        "-p",
        json.dumps(deny),
        binary=require(binary),
    )

    version = subprocess.run(
        [str(binary), "version", "--client", "-o", "json"], capture_output=True, text=True
    )
    minor = int(re.match(r"\d+", json.loads(version.stdout)["clientVersion"]["minor"]).group())
    if minor < 32:
        assert patched.returncode == 1
        assert (
            'error: invalid subresource value: "approval". Must be one of [status scale]'
            in patched.stderr
        )
        assert "Denied" not in conditions(cluster, "alice-renewal")
    else:
        assert patched.returncode == 0, patched.stderr
        assert (
            conditions(cluster, "alice-renewal")["Denied"]["message"]
            == "the certificate it renews has expired"
        )
        assert [
            r.method for r in cluster.server.records(path=f"{CSR_API}/alice-renewal/approval")
        ] == ["GET", "PATCH"]


def test_approve_and_deny_take_several_names(csr_api):
    cluster, admin = csr_api
    cluster.kubectl(
        admin, "create", "-f", "-", stdin=as_list(*(csr_manifest(n) for n in ("a", "b", "c", "d")))
    )

    approved = cluster.kubectl(admin, "certificate", "approve", "a", "b")
    denied = cluster.kubectl(admin, "certificate", "deny", "c", "d")

    assert approved.stdout.split("\n")[:2] == [
        "certificatesigningrequest.certificates.k8s.io/a approved",
        "certificatesigningrequest.certificates.k8s.io/b approved",
    ]
    assert denied.stdout.split("\n")[:2] == [
        "certificatesigningrequest.certificates.k8s.io/c denied",
        "certificatesigningrequest.certificates.k8s.io/d denied",
    ]
    assert [sorted(conditions(cluster, n)) for n in "abcd"] == [
        ["Approved"],
        ["Approved"],
        ["Denied"],
        ["Denied"],
    ]


def test_approval_rights_per_verb(csr_api):
    """PUT (kubectl certificate approve, replace --raw) is `update` on certificatesigningrequests/approval,
    PATCH is `patch` (and kubectl patch GETs the subresource first: `get` on it too); both then need
    `approve` on the signer."""
    cluster, admin = csr_api
    csrs = {
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["certificatesigningrequests"],
        "verbs": ["get"],
    }
    approval = lambda verb: {  # noqa: E731
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["certificatesigningrequests/approval"],
        "verbs": ["get", verb],
    }
    signer = {
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["signers"],
        "verbs": ["approve"],
        "resourceNames": [CLIENT_SIGNER],
    }
    grant(cluster, "putter", csrs, approval("update"), signer)
    grant(cluster, "patcher", csrs, approval("patch"), signer)
    cluster.kubectl(
        admin, "create", "-f", "-", stdin=as_list(csr_manifest("one"), csr_manifest("two"))
    )
    approve = json.dumps(
        {"status": {"conditions": [{"type": "Approved", "status": "True", "reason": "R"}]}}
    )
    patch = lambda who, name: cluster.kubectl(  # noqa: E731
        cluster.credentials(who),
        "patch",
        "csr",
        name,
        "--subresource=approval",
        "--type=merge",
        "-p",
        approve,
    )

    put_by_patcher = cluster.kubectl(
        cluster.credentials("patcher"), "certificate", "approve", "one"
    )
    patch_by_putter = patch("putter", "one")
    assert (
        'User "patcher" cannot update resource "certificatesigningrequests/approval"'
        in put_by_patcher.stderr
    )
    assert (
        'User "putter" cannot patch resource "certificatesigningrequests/approval"'
        in patch_by_putter.stderr
    )
    assert conditions(cluster, "one") == {}

    assert (
        cluster.kubectl(cluster.credentials("putter"), "certificate", "approve", "one").returncode
        == 0
    )
    assert patch("patcher", "two").returncode == 0
    assert sorted(conditions(cluster, "one")) == sorted(conditions(cluster, "two")) == ["Approved"]


# -- watch --------------------------------------------------------------------


def json_documents(text: str) -> list:
    """The JSON documents kubectl -o json prints one after the other (indented, not one per line)."""
    decoder, documents, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        document, at = decoder.raw_decode(text, at)
        documents.append(document)
    return documents


@pytest.fixture
def watch(cluster):
    """watch(kubeconfig, *args, binary=None): `kubectl ARGS` (a --watch) in the background, returned once
    the server streams to it; finish(process) stops the server (a clean end of every watch) and
    returns what kubectl printed."""
    processes = []

    def start(kubeconfig, *args, binary=None):
        opened = len([r for r in cluster.server.records() if "watch=true" in r.query])
        argv = [str(binary or default_kubectl()), "--kubeconfig", str(kubeconfig), *map(str, args)]
        processes.append(
            subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                stdin=subprocess.DEVNULL,
            )
        )
        cluster.server.wait_for(
            lambda: (
                len([r for r in cluster.server.records() if "watch=true" in r.query]) > opened
                or processes[-1].poll() is not None
            ),
            what="a watch request",
        )
        return processes[-1]

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.communicate()


def finish(cluster: Cluster, process: subprocess.Popen) -> subprocess.CompletedProcess:
    cluster.server.stop()
    out, err = process.communicate(timeout=30)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def create_approve_deny_delete(cluster: Cluster, admin: Path) -> None:
    """What a watch then sees: alice's request created, approved and signed; bob's created and denied;
    alice's deleted."""
    assert (
        cluster.kubectl(
            admin, "create", "-f", "-", stdin=json.dumps(csr_manifest("alice-1"))
        ).returncode
        == 0
    )
    assert cluster.kubectl(admin, "certificate", "approve", "alice-1").returncode == 0
    assert (
        cluster.kubectl(
            admin, "create", "-f", "-", stdin=json.dumps(csr_manifest("bob-1", "bob"))
        ).returncode
        == 0
    )
    assert cluster.kubectl(admin, "certificate", "deny", "bob-1").returncode == 0
    assert cluster.kubectl(admin, "delete", "csr", "alice-1").returncode == 0


def state(csr: dict) -> str:
    return "%s:%s" % (csr["metadata"]["name"], csr_condition_column(csr))


@pytest.mark.parametrize("binary", KUBECTLS)
def test_watch_streams_the_list_then_every_change(csr_api, watch, binary):
    cluster, admin = csr_api
    cluster.kubectl(admin, "create", "-f", "-", stdin=json.dumps(csr_manifest("earlier")))

    watching = watch(admin, "get", "csr", "--watch", "-o", "json", binary=require(binary))
    create_approve_deny_delete(cluster, admin)
    done = finish(cluster, watching)

    assert done.returncode == 0, done.stderr  # the server stopping ends the stream cleanly
    documents = json_documents(done.stdout)
    assert [state(d) for d in documents] == [
        "earlier:Pending",
        "alice-1:Pending",
        "alice-1:Approved",
        "alice-1:Approved,Issued",
        "bob-1:Pending",
        "bob-1:Denied",
        "alice-1:Approved,Issued",
    ]  # the last: alice-1 as it was when deleted
    issued = x509.load_pem_x509_certificate(base64.b64decode(documents[3]["status"]["certificate"]))
    assert issued.subject.rfc4514_string() == "CN=alice,O=dev"
    versions = [int(d["metadata"]["resourceVersion"]) for d in documents[1:]]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    [request] = [r for r in cluster.server.records(path=CSR_API) if "watch=true" in r.query]
    listed = [
        r
        for r in cluster.server.records(path=CSR_API)
        if r.method == "GET" and "watch" not in r.query
    ]
    assert (
        "resourceVersion=" in request.query and request.status == 200 and listed
    )  # list, then watch from it


def test_watch_events_and_watch_only(csr_api, watch):
    cluster, admin = csr_api
    cluster.kubectl(admin, "create", "-f", "-", stdin=json.dumps(csr_manifest("earlier")))

    events = watch(admin, "get", "csr", "-w", "--output-watch-events", "-o", "json")
    only = watch(admin, "get", "csr", "--watch-only", "-o", "json")
    create_approve_deny_delete(cluster, admin)
    cluster.server.stop()
    events_out, only_out = events.communicate(timeout=30)[0], only.communicate(timeout=30)[0]

    assert [(e["type"], state(e["object"])) for e in json_documents(events_out)] == [
        ("ADDED", "earlier:Pending"),
        ("ADDED", "alice-1:Pending"),
        ("MODIFIED", "alice-1:Approved"),
        ("MODIFIED", "alice-1:Approved,Issued"),
        ("ADDED", "bob-1:Pending"),
        ("MODIFIED", "bob-1:Denied"),
        ("DELETED", "alice-1:Approved,Issued"),
    ]
    assert [state(d) for d in json_documents(only_out)] == [
        "alice-1:Pending",
        "alice-1:Approved",
        "alice-1:Approved,Issued",
        "bob-1:Pending",
        "bob-1:Denied",
        "alice-1:Approved,Issued",
    ]


def test_watch_of_one_request_by_name(csr_api, watch):
    cluster, admin = csr_api
    cluster.kubectl(
        admin, "create", "-f", "-", stdin=as_list(csr_manifest("alice-1"), csr_manifest("other"))
    )

    watching = watch(admin, "get", "csr", "alice-1", "--watch", "-o", "json")
    cluster.kubectl(admin, "certificate", "approve", "other", "alice-1")
    done = finish(cluster, watching)

    assert [state(d) for d in json_documents(done.stdout)] == [
        "alice-1:Pending",
        "alice-1:Approved",
        "alice-1:Approved,Issued",
    ]
    [request] = [r for r in cluster.server.records(path=CSR_API) if "watch=true" in r.query]
    assert (
        "fieldSelector=metadata.name%3Dalice-1" in request.query
        and "resourceVersion=0" in request.query
    )


def test_watch_as_a_table(csr_api, watch):
    cluster, admin = csr_api

    watching = watch(admin, "get", "csr", "--watch")
    cluster.kubectl(admin, "create", "-f", "-", stdin=json.dumps(csr_manifest("alice-1")))
    cluster.kubectl(admin, "certificate", "approve", "alice-1")
    done = finish(cluster, watching)

    rows = [line.split() for line in done.stdout.splitlines()]
    assert rows[0] == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]
    assert [(r[0], r[-1]) for r in rows[1:]] == [
        ("alice-1", "Pending"),
        ("alice-1", "Approved"),
        ("alice-1", "Approved,Issued"),
    ]


def test_watch_ends_when_the_client_goes_away(csr_api, watch):
    cluster, admin = csr_api
    watching = watch(admin, "get", "csr", "--watch", "-o", "name")
    assert cluster.server.open_watches == 1

    watching.kill()
    watching.communicate()

    cluster.server.wait_for(lambda: cluster.server.open_watches == 0, what="the watch to notice")


def test_request_timeout_ends_a_kubectl_watch_quietly(csr_api):
    """kubectl --request-timeout also bounds a watch: kubectl gives up, exit 0, nothing on stderr (a watch
    meant to last must run with --request-timeout=0); the server ignores the ?timeout= it sends."""
    cluster, admin = csr_api
    cluster.kubectl(admin, "create", "-f", "-", stdin=json.dumps(csr_manifest("alice-1")))

    ended = subprocess.run(
        [
            default_kubectl(),
            "--kubeconfig",
            str(admin),
            "--request-timeout=2s",
            "get",
            "csr",
            "--watch",
            "-o",
            "name",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (ended.returncode, ended.stdout, ended.stderr) == (
        0,
        "certificatesigningrequest.certificates.k8s.io/alice-1\n",
        "",
    )
    [request] = [r for r in cluster.server.records(path=CSR_API) if "watch=true" in r.query]
    assert "timeout=2s" in request.query
    cluster.server.wait_for(lambda: cluster.server.open_watches == 0, what="the watch to notice")


def test_watch_timeout_seconds_and_an_expired_resource_version(csr_api):
    cluster, admin = csr_api
    cluster.kubectl(admin, "create", "-f", "-", stdin=json.dumps(csr_manifest("alice-1")))

    timed = cluster.kubectl(admin, "get", "--raw", f"{CSR_API}?watch=true&timeoutSeconds=1")
    expired = cluster.kubectl(admin, "get", "--raw", f"{CSR_API}?watch=true&resourceVersion=5")
    current = cluster.server.store.resource_version()
    quiet = cluster.kubectl(
        admin, "get", "--raw", f"{CSR_API}?watch=true&resourceVersion={current}&timeoutSeconds=1"
    )
    watch_list = cluster.kubectl(
        admin,
        "get",
        "--raw",
        f"{CSR_API}?watch=true&sendInitialEvents=true&"
        "resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
    )

    assert timed.returncode == 0, timed.stderr
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in json_documents(timed.stdout)] == [
        ("ADDED", "alice-1")
    ]
    [error] = json_documents(expired.stdout)
    assert error["type"] == "ERROR" and (error["object"]["code"], error["object"]["reason"]) == (
        410,
        "Expired",
    )
    assert error["object"]["message"].startswith("too old resource version: 5 (")
    assert quiet.returncode == 0 and quiet.stdout == "", quiet.stderr
    added, bookmark = json_documents(watch_list.stdout)
    assert (added["type"], bookmark["type"]) == ("ADDED", "BOOKMARK")
    assert bookmark["object"]["metadata"] == {
        "resourceVersion": current,
        "annotations": {"k8s.io/initial-events-end": "true"},
    }


def test_watch_needs_the_watch_verb(csr_api):
    cluster, admin = csr_api
    grant(
        cluster,
        "lister",
        {
            "apiGroups": ["certificates.k8s.io"],
            "resources": ["certificatesigningrequests"],
            "verbs": ["list"],
        },
    )

    refused = cluster.kubectl(cluster.credentials("lister"), "get", "csr", "--watch")

    assert refused.returncode == 1
    assert (
        'certificatesigningrequests.certificates.k8s.io is forbidden: User "lister" cannot watch resource '
        '"certificatesigningrequests" in API group "certificates.k8s.io" at the cluster scope'
    ) in refused.stderr


def test_field_selectors_of_csrs(csr_api):
    cluster, admin = csr_api
    other = csr_manifest("other-signer")
    other["spec"]["signerName"] = "example.com/other"
    cluster.kubectl(
        admin,
        "create",
        "-f",
        "-",
        stdin=as_list(csr_manifest("alice-1"), csr_manifest("bob-1"), other),
    )
    names = lambda *a: cluster.kubectl(admin, "get", "csr", "-o", "name", *a).stdout.split()  # noqa: E731

    assert names("--field-selector", "metadata.name=bob-1") == [
        "certificatesigningrequest.certificates.k8s.io/bob-1"
    ]
    assert names("--field-selector", f"spec.signerName={CLIENT_SIGNER}") == [
        "certificatesigningrequest.certificates.k8s.io/alice-1",
        "certificatesigningrequest.certificates.k8s.io/bob-1",
    ]
    assert names("--field-selector", f"spec.signerName!={CLIENT_SIGNER},metadata.name!=bob-1") == [
        "certificatesigningrequest.certificates.k8s.io/other-signer"
    ]
    unknown = cluster.kubectl(admin, "get", "csr", "--field-selector", "spec.username=alice")
    assert "field label not supported: spec.username" in unknown.stderr


# -- RBAC resourceNames: the right to self-renew ----------------------------------


def self_renewal_rules(*names: str) -> list:
    """create on certificatesigningrequests (cannot be narrowed), get/delete (and list/watch through a
    metadata.name field selector) only on the named requests."""
    csrs = {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"]}
    return [
        dict(csrs, verbs=["create"]),
        dict(csrs, verbs=["get", "delete", "list", "watch"], resourceNames=list(names)),
    ]


def test_resource_names_narrow_get_and_delete_but_not_create(csr_api, watch):
    cluster, admin = csr_api
    grant(cluster, "alice", *self_renewal_rules("usercert-renew-alice-1", "usercert-renew-alice-2"))
    alice = cluster.credentials("alice", ["dev"])
    kubectl = lambda *a, stdin=None: cluster.kubectl(alice, *a, stdin=stdin)  # noqa: E731

    mine = kubectl(
        "create", "-f", "-", stdin=json.dumps(csr_manifest("usercert-renew-alice-1", "alice"))
    )
    any_name = kubectl(
        "create", "-f", "-", stdin=json.dumps(csr_manifest("not-in-the-list", "bob"))
    )
    cluster.kubectl(admin, "create", "-f", "-", stdin=json.dumps(csr_manifest("bobs", "bob")))

    assert mine.returncode == 0 and any_name.returncode == 0, (
        mine.stderr + any_name.stderr
    )  # create: any name
    assert kubectl("get", "csr", "usercert-renew-alice-1", "-o", "name").returncode == 0
    forbidden = 'User "alice" cannot %s resource "certificatesigningrequests" in API group "certificates.k8s.io"'
    assert (forbidden % "get") in kubectl("get", "csr", "bobs").stderr
    assert (forbidden % "get") in kubectl(
        "get", "csr", "not-in-the-list"
    ).stderr  # made it, cannot read it
    assert (forbidden % "list") in kubectl("get", "csr").stderr
    narrowed = kubectl(
        "get", "csr", "--field-selector", "metadata.name=usercert-renew-alice-1", "-o", "name"
    )
    assert narrowed.stdout.split() == [
        "certificatesigningrequest.certificates.k8s.io/usercert-renew-alice-1"
    ]
    assert (forbidden % "list") in kubectl(
        "get", "csr", "--field-selector", "metadata.name=bobs"
    ).stderr
    assert (forbidden % "delete") in kubectl("delete", "csr", "bobs").stderr
    assert kubectl("delete", "csr", "usercert-renew-alice-1").returncode == 0
    assert sorted(
        c["metadata"]["name"]
        for c in cluster.server.list("certificates.k8s.io/v1", "CertificateSigningRequest")
    ) == ["bobs", "not-in-the-list"]

    kubectl("create", "-f", "-", stdin=json.dumps(csr_manifest("usercert-renew-alice-2", "alice")))
    watching = watch(alice, "get", "csr", "usercert-renew-alice-2", "--watch", "-o", "json")
    cluster.kubectl(admin, "certificate", "approve", "usercert-renew-alice-2", "bobs")
    done = finish(cluster, watching)
    assert [state(d) for d in json_documents(done.stdout)] == [
        "usercert-renew-alice-2:Pending",
        "usercert-renew-alice-2:Approved",
        "usercert-renew-alice-2:Approved,Issued",
    ], done.stderr


def test_a_rule_with_resource_names_never_allows_create(csr_api):
    cluster, _ = csr_api
    grant(
        cluster,
        "alice",
        {
            "apiGroups": ["certificates.k8s.io"],
            "resources": ["certificatesigningrequests"],
            "verbs": ["create", "get"],
            "resourceNames": ["usercert-renew-alice-1"],
        },
    )

    refused = cluster.kubectl(
        cluster.credentials("alice"),
        "create",
        "-f",
        "-",
        stdin=json.dumps(csr_manifest("usercert-renew-alice-1", "alice")),
    )

    assert refused.returncode == 1
    assert (
        'certificatesigningrequests.certificates.k8s.io is forbidden: User "alice" cannot create resource '
        '"certificatesigningrequests" in API group "certificates.k8s.io" at the cluster scope'
    ) in refused.stderr


def test_a_namespaced_role_grants_nothing_on_csrs(csr_api):
    """CSRs are cluster-scoped: RBAC looks at ClusterRoleBindings only, so a Role cannot grant them."""
    cluster, admin = csr_api
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "renew", "namespace": "default"},
        "rules": self_renewal_rules("usercert-renew-alice-1"),
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "renew", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "renew"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}],
    }
    assert cluster.kubectl(admin, "create", "-f", "-", stdin=as_list(role, binding)).returncode == 0

    refused = cluster.kubectl(
        cluster.credentials("alice"),
        "create",
        "-f",
        "-",
        stdin=json.dumps(csr_manifest("usercert-renew-alice-1", "alice")),
    )

    assert 'User "alice" cannot create resource "certificatesigningrequests"' in refused.stderr


# -- several clusters at once -------------------------------------------------------


def test_a_fleet_of_three_clusters_each_with_its_own_cas(fleet):
    admin = Path(os.environ["HOME"]) / ".kube" / "config"
    kubectl = lambda *a: subprocess.run([default_kubectl(), *a], capture_output=True, text=True)  # noqa: E731

    contexts = kubectl("config", "get-contexts", "-o", "name")
    assert fleet.contexts == ["prod", "staging", "lab"]
    assert contexts.stdout.split() == ["lab", "prod", "staging"]  # kubectl sorts them
    assert (
        admin == fleet.kubeconfig and kubectl("config", "current-context").stdout.strip() == "prod"
    )
    for cluster in fleet:
        answer = kubectl("--context", cluster.context, "auth", "whoami", "-o", "json")
        assert json.loads(answer.stdout)["status"]["userInfo"]["username"] == "kubernetes-admin", (
            answer.stderr
        )
        assert [
            r.user
            for r in cluster.server.records(
                path="/apis/authentication.k8s.io/v1/selfsubjectreviews"
            )
        ] == ["kubernetes-admin"]  # each context reached its own server
    assert len({c.server.url for c in fleet}) == 3
    assert len({c.client_ca.cert.fingerprint(hashes.SHA256()) for c in fleet}) == 3
    prod, staging = fleet["prod"], fleet["staging"]
    assert prod.server_ca is not prod.client_ca  # split, like k3s
    assert (
        staging.server_ca is staging.client_ca
        and staging.client_ca.cert.subject.rfc4514_string() == "CN=kubernetes"
    )  # one CA, like kubeadm

    foreign = staging.credentials(
        "alice", ["dev"], ca=prod.client_ca
    )  # prod's client CA means nothing here
    assert UNAUTHORIZED in staging.kubectl(foreign, "auth", "whoami").stderr
    assert whoami(prod, prod.credentials("alice", ["dev"]))["username"] == "alice"


def test_a_fleet_signs_csrs_on_each_cluster_with_its_own_client_ca(fleet):
    for cluster in fleet:
        made = cluster.admin("create", "-f", "-", stdin=json.dumps(csr_manifest("alice-1")))
        approved = cluster.admin("certificate", "approve", "alice-1")
        assert made.returncode == 0 and approved.returncode == 0, made.stderr + approved.stderr
        issued_certificate(cluster, "alice-1").verify_directly_issued_by(cluster.client_ca.cert)


def test_two_kubeconfigs_with_the_same_names_merge_as_kubectl_merges_them(fleet, monkeypatch):
    """staging and lab's own kubeconfigs both name their cluster kubernetes and their user
    kubernetes-admin: with KUBECONFIG=staging:lab the first file's entries win, so context lab talks
    to staging's server with staging's credentials (what a fleet tool must not fall for)."""
    staging, lab = fleet["staging"], fleet["lab"]
    monkeypatch.setenv("KUBECONFIG", fleet.kubeconfig_path("staging", "lab"))

    contexts = subprocess.run(
        [default_kubectl(), "config", "get-contexts", "-o", "name"], capture_output=True, text=True
    )
    view = subprocess.run(
        [default_kubectl(), "config", "view", "-o", "json"], capture_output=True, text=True
    )
    answer = subprocess.run(
        [default_kubectl(), "--context", "lab", "auth", "whoami"], capture_output=True, text=True
    )

    assert contexts.stdout.split() == ["lab", "staging"]
    assert [c["name"] for c in json.loads(view.stdout)["clusters"]] == ["kubernetes"]
    assert answer.returncode == 0, answer.stderr
    assert staging.server.records() and not lab.server.records()


def test_a_fleet_of_chosen_shapes(make_fleet):
    from helpers import ClusterSpec

    one_hour = datetime.timedelta(hours=1)
    fleet = make_fleet(
        ClusterSpec(
            "old",
            split_ca=False,
            server_options=(("credential_ids", False),),
            cluster_signing_duration=one_hour,
        ),
        ClusterSpec("new", split_ca=True, sign_csrs=False),
    )
    old, new = fleet["old"], fleet["new"]

    assert "extra" not in whoami(old, old.credentials("alice"), extra=True)
    assert "extra" in whoami(new, new.credentials("alice"), extra=True)
    for cluster in fleet:
        cluster.admin(
            "create", "-f", "-", stdin=json.dumps(csr_manifest("alice-1", expiration=7200))
        )
        cluster.admin("certificate", "approve", "alice-1")
    issued = issued_certificate(old, "alice-1")
    assert issued.not_valid_after_utc - issued.not_valid_before_utc == datetime.timedelta(
        hours=1, minutes=5
    )
    assert (
        "certificate"
        not in new.server.get("certificates.k8s.io/v1", "CertificateSigningRequest", "alice-1")[
            "status"
        ]
    )  # no signer runs there
