"""The test API server, proved with real kubectl binaries.

Every case drives the server through kubectl as a user would; the request
log is read only to check *why* the server answered as it did.
"""
import datetime
import http.client
import itertools
import json
import os
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

import apiserver
import pki
from apiserver import APIServer

SDK_BIN = Path("/usr/lib/google-cloud-sdk/bin")
KUBECTLS = [pytest.param(Path("/usr/bin/kubectl"), id="usr-bin")] + [
    pytest.param(SDK_BIN / ("kubectl.1.%d" % minor), id="1.%d" % minor) for minor in range(27, 34)]
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


def default_kubectl() -> Path:
    for param in KUBECTLS:
        if _runnable(param.values[0]):
            return param.values[0]
    pytest.skip("no kubectl binary installed")


@dataclass
class Cluster:
    """A running server with k3s-like split CAs, and kubectl wired to it."""
    server: APIServer
    server_ca: pki.CA
    client_ca: pki.CA
    root: Path
    env: Dict[str, str]
    _serial: "itertools.count" = field(default_factory=itertools.count)

    def credentials(self, cn: Optional[str], orgs: Sequence[str] = (), *, ca: Optional[pki.CA] = None,
                    **cert_options) -> Path:
        """A kubeconfig (trusting the server CA) for a fresh client cert."""
        stem = "user-%d" % next(self._serial)
        cert, key = pki.make_client_cert(ca or self.client_ca, self.root / "certs", cn, orgs,
                                         filename_stem=stem, **cert_options)
        return pki.write_kubeconfig(self.root / (stem + ".kubeconfig"), self.server.url,
                                    self.server_ca.cert_path, cert, key)

    def kubectl(self, kubeconfig: Path, *args: str, binary: Optional[Path] = None,
                stdin: Optional[str] = None) -> subprocess.CompletedProcess:
        argv = [str(binary or default_kubectl()), "--kubeconfig", str(kubeconfig)] + list(args)
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=self.env, timeout=60)


@pytest.fixture
def cluster(tmp_path):
    pki_dir = tmp_path / "apiserver-pki"
    server_ca = pki.make_ca(pki_dir, "server-ca")
    client_ca = pki.make_ca(pki_dir, "client-ca")
    serving_cert, serving_key = pki.make_server_cert(server_ca, pki_dir)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)  # conftest's autouse fixture may have made it already
    env = dict(os.environ, HOME=str(home), KUBECONFIG=str(home / ".kube" / "config"))
    env.pop("KUBECTL_EXTERNAL_DIFF", None)
    root = tmp_path / "apiserver-users"
    root.mkdir()
    with APIServer(serving_cert, serving_key, client_ca.cert_path) as server:
        yield Cluster(server, server_ca, client_ca, root, env)


def whoami(cluster: Cluster, kubeconfig: Path, binary: Optional[Path] = None) -> dict:
    result = cluster.kubectl(kubeconfig, "auth", "whoami", "-o", "json", binary=binary)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["status"]["userInfo"]


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
        "username": "alice/O=system:masters", "groups": ["system:authenticated"]}
    denied = cluster.kubectl(kubeconfig, "get", "pods")
    assert denied.returncode != 0
    assert 'User "alice/O=system:masters" cannot list resource "pods"' in denied.stderr


def test_last_cn_is_the_user_and_every_o_is_a_group(cluster):
    # O=b sits in a multi-valued RDN with OU: Go still finds it, in order.
    name = x509.Name([
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "a")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "first")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "b"),
                                        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ignored")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "last")]),
    ])
    kubeconfig = cluster.credentials(None, subject=name)

    assert whoami(cluster, kubeconfig) == {"username": "last", "groups": ["a", "b", "system:authenticated"]}


def test_certificate_without_cn_is_anonymous(cluster):
    kubeconfig = cluster.credentials(None, ["dev"])

    result = cluster.kubectl(kubeconfig, "get", "pods")

    assert result.returncode == 1
    assert ('pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" '
            'in the namespace "default"') in result.stderr
    request = cluster.server.records(path="/api/v1/namespaces/default/pods")[-1]
    assert (request.user, request.groups, request.status) == (
        "system:anonymous", ("system:unauthenticated",), 403)


def test_no_certificate_is_anonymous(cluster):
    # Not through kubectl: for a kubeconfig user without credentials kubectl
    # prompts "Please enter Username:" instead of going anonymous.
    context = ssl.create_default_context(cafile=str(cluster.server_ca.cert_path))
    conn = http.client.HTTPSConnection("127.0.0.1", cluster.server.port, context=context, timeout=30)

    statuses = {}
    for path in ("/version", "/api", "/api/v1/namespaces/default/pods"):
        conn.request("GET", path)
        response = conn.getresponse()
        statuses[path] = (response.status, json.loads(response.read()).get("message"))
    conn.close()

    assert statuses["/version"][0] == statuses["/api"][0] == 200
    assert statuses["/api/v1/namespaces/default/pods"] == (403, (
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" '
        'in the namespace "default"'))
    assert {r.user for r in cluster.server.records()} == {"system:anonymous"}


@pytest.mark.parametrize("reason, cert_options", [
    ("expired", dict(not_before=_hours(-48), not_after=_hours(-1))),
    ("not yet valid", dict(not_before=_hours(1), not_after=_hours(48))),
    ("incompatible key usage", dict(eku=("serverAuth",))),
])
def test_server_refuses_unusable_client_certificates(cluster, reason, cert_options):
    kubeconfig = cluster.credentials("mallory", ["system:masters"], **cert_options)

    result = cluster.kubectl(kubeconfig, "auth", "whoami")

    assert result.returncode == 1
    assert UNAUTHORIZED in result.stderr
    refused = cluster.server.records(status=401)
    assert refused and {(r.user, r.reason) for r in refused} == {(None, reason)}


def test_server_accepts_a_certificate_without_eku(cluster):
    kubeconfig = cluster.credentials("bob", ["dev"], eku=None)

    assert whoami(cluster, kubeconfig) == {"username": "bob", "groups": ["dev", "system:authenticated"]}


def test_split_ca_client_cert_must_come_from_the_client_ca(cluster):
    good = cluster.credentials("carol", ["dev"])
    # The k3s mistake: signing user certs with the CA from the kubeconfig.
    wrong_ca = cluster.credentials("carol", ["system:masters"], ca=cluster.server_ca)

    assert whoami(cluster, good)["username"] == "carol"
    result = cluster.kubectl(wrong_ca, "auth", "whoami")
    assert result.returncode == 1
    assert UNAUTHORIZED in result.stderr
    assert {(r.user, r.reason) for r in cluster.server.records(status=401)} == {(None, "unknown authority")}


def test_split_ca_kubeconfig_must_carry_the_server_ca(cluster):
    cert, key = pki.make_client_cert(cluster.client_ca, cluster.root, "carol")
    trusting_client_ca = pki.write_kubeconfig(cluster.root / "wrong.kubeconfig", cluster.server.url,
                                              cluster.client_ca.cert_path, cert, key)

    result = cluster.kubectl(trusting_client_ca, "auth", "whoami")

    assert result.returncode == 1
    assert "x509: certificate signed by unknown authority" in result.stderr


def test_concurrent_kubectl_processes(cluster):
    kubeconfigs = [cluster.credentials("user%d" % i) for i in range(6)]
    argv = lambda k: [str(default_kubectl()), "--kubeconfig", str(k), "auth", "whoami", "-o", "json"]  # noqa: E731

    procs = [subprocess.Popen(argv(k), stdout=subprocess.PIPE, env=cluster.env, text=True) for k in kubeconfigs]
    names = [json.loads(p.communicate(timeout=60)[0])["status"]["userInfo"]["username"] for p in procs]

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
        'in API group "" in the namespace "default"')

    assert cluster.kubectl(brancz, "auth", "can-i", "list", "pods").stdout.strip() == "yes"
    assert cluster.kubectl(eve, "auth", "can-i", "list", "pods").stdout.strip() == "no"


def test_forbidden_at_cluster_scope(blog):
    cluster, _, _ = blog
    eve = cluster.credentials("eve", ["other"])

    denied = cluster.kubectl(eve, "get", "clusterrolebindings")

    assert denied.stderr.strip() == (
        'Error from server (Forbidden): clusterrolebindings.rbac.authorization.k8s.io is forbidden: '
        'User "eve" cannot list resource "clusterrolebindings" in API group '
        '"rbac.authorization.k8s.io" at the cluster scope')


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
        "clusterrolebinding.rbac.authorization.k8s.io/read-only-user created"]
    assert again.stdout.split("\n")[:2] == [
        "clusterrole.rbac.authorization.k8s.io/read-only-user unchanged",
        "clusterrolebinding.rbac.authorization.k8s.io/read-only-user unchanged"]
    assert 'clusterroles.rbac.authorization.k8s.io "read-only-user" already exists' in duplicate.stderr
    posts = [r for r in cluster.server.records() if r.method == "POST" and "rbac" in r.path]
    assert posts and all("fieldValidation=Strict" in r.query for r in posts)


def test_apply_after_create_configures_then_is_unchanged(blog):
    cluster, admin, manifest = blog

    cluster.kubectl(admin, "create", "-f", str(manifest))
    configured = cluster.kubectl(admin, "apply", "-f", str(manifest))
    unchanged = cluster.kubectl(admin, "apply", "-f", str(manifest))

    assert "clusterrole.rbac.authorization.k8s.io/read-only-user configured" in configured.stdout
    assert "missing the kubectl.kubernetes.io/last-applied-configuration annotation" in configured.stderr
    assert unchanged.stdout.count("unchanged") == 2


def test_label_selector_and_typed_create_commands(blog):
    cluster, admin, _ = blog
    # kubectl's typed create commands send protobuf bodies.
    made = cluster.kubectl(admin, "create", "rolebinding", "eve-edit", "--clusterrole=edit",
                           "--user=eve", "-n", "kube-system")
    labeled = cluster.kubectl(admin, "label", "rolebinding", "eve-edit", "team=blue", "-n", "kube-system")
    listed = cluster.kubectl(admin, "get", "rolebindings", "-A", "-l", "team=blue", "-o", "name")

    assert made.returncode == 0 and labeled.returncode == 0, made.stderr + labeled.stderr
    assert listed.stdout.split() == ["rolebinding.rbac.authorization.k8s.io/eve-edit"]
    binding = cluster.server.get("rbac.authorization.k8s.io/v1", "RoleBinding", "eve-edit", "kube-system")
    assert binding["subjects"] == [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "eve"}]
    eve = cluster.credentials("eve")
    assert cluster.kubectl(eve, "auth", "can-i", "delete", "pods", "-n", "kube-system").stdout.strip() == "yes"
    assert cluster.kubectl(eve, "auth", "can-i", "delete", "pods").stdout.strip() == "no"


def test_masters_cannot_be_taken_away(blog):
    cluster, admin, _ = blog

    deleted = cluster.kubectl(admin, "delete", "clusterrolebinding", "cluster-admin")
    still = cluster.kubectl(admin, "get", "clusterrolebinding", "cluster-admin")

    assert deleted.returncode == 0, deleted.stderr
    assert "NotFound" in still.stderr  # the request itself was still authorized


def test_seeded_objects_and_missing_objects(cluster):
    cluster.server.seed({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                         "metadata": {"name": "dave-view"},
                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                     "name": "view"},
                         "subjects": [{"kind": "Group", "name": "viewers"}]})
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
    assert ('ClusterRole in version "v1" cannot be handled as a ClusterRole: '
            'strict decoding error: unknown field "rules[0].verb"') in strict.stderr
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "rules[0].verb"' in warned.stderr


def test_fallback_without_ctypes_still_authenticates(tmp_path, monkeypatch):
    def unavailable(context, client_ca_file):
        raise OSError("pretend the SSL_CTX hook cannot be installed")

    monkeypatch.setattr(apiserver, "_request_client_certificate", unavailable)
    server_ca = pki.make_ca(tmp_path / "fb", "server-ca")
    client_ca = pki.make_ca(tmp_path / "fb", "client-ca")
    with APIServer(*pki.make_server_cert(server_ca, tmp_path / "fb"), client_ca.cert_path) as server:
        env = dict(os.environ, HOME=str(tmp_path / "home"))
        cluster = Cluster(server, server_ca, client_ca, tmp_path / "fb", env)
        good = cluster.credentials("frank", ["dev"])
        expired = cluster.credentials("frank", (), not_before=_hours(-48), not_after=_hours(-1))

        assert server.client_cert_mode == "handshake"
        assert whoami(cluster, good)["username"] == "frank"
        assert UNAUTHORIZED in cluster.kubectl(expired, "auth", "whoami").stderr
