"""End to end: `--signer csr` issues through the cluster's CertificateSigningRequest API.

The tool runs with real kubectl against tests/apiserver/, whose CSR API and signer behave as
kube-apiserver and kube-controller-manager's kube-apiserver-client signer do; where a second party
(approver, denier) acts while it waits, the tool is a background process and the second party a
kubectl process started once the request shows up in the server: the test waits on the server
(wait_for), never on a clock.
"""

import base64
import datetime
import json
import re
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import pki
from helpers import EC, ROOT, finish, run_cli, whoami
from helpers import ledger_lines as ledger
from helpers import user_cert as certificate

CSR = ("certificates.k8s.io/v1", "CertificateSigningRequest")
CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


@pytest.fixture
def cluster(live_cluster):
    """live_cluster whose controller signs approved kube-apiserver-client requests with the client CA."""
    live_cluster.server.sign_csrs_with(live_cluster.client_ca.cert, live_cluster.client_ca.key)
    return live_cluster


def csrs(cluster):
    return cluster.server.list(*CSR)


def csr_posts(cluster):
    return [r for r in cluster.server.records(path=CSR_PATH) if r.method == "POST"]


def submitted_csr(cluster):
    """The name of the request the tool submitted, as soon as the server holds it."""
    return cluster.server.wait_for(
        lambda: next((c["metadata"]["name"] for c in csrs(cluster)), None),
        what="a CertificateSigningRequest",
    )


def summary_field(stderr, name):
    match = re.search(rf"^  {name}\s+(.*)$", stderr, re.MULTILINE)
    return match and match.group(1)


def test_create_approve_issues_a_working_kubeconfig_and_removes_the_request(cluster):
    result = run_cli(
        "create",
        "alice",
        "-g",
        "dev",
        "--signer",
        "csr",
        "--approve",
        "--key-type",
        "rsa",
        "--key-size",
        "2048",
        "-o",
        "json",
    )

    assert result.returncode == 0, result.stderr
    assert whoami(cluster, "clients/alice/kubeconfig") == {
        "username": "alice",
        "groups": ["dev", "system:authenticated"],
    }
    assert csrs(cluster) == []
    assert summary_field(result.stderr, "signer") == "csr"
    assert json.loads(result.stdout)["status"]["signer"] == "csr"
    # approved by the tool itself: nobody is asked to approve it
    assert re.search(
        r"^- Approving usercert-alice-[0-9a-f]{8} …\n- Waiting for usercert-alice-[0-9a-f]{8} to be signed …$",
        result.stderr,
        re.M,
    ), result.stderr
    assert "approve with" not in result.stderr
    [entry] = ledger()
    assert (entry["event"], entry["user"], entry["signer"]) == ("issued", "alice", "csr")
    cert = certificate("alice")
    cert.verify_directly_issued_by(cluster.client_ca.cert)
    assert cert.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage
    ).value == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment  # RSA asks for key encipherment too
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=365)
    assert "warning" not in result.stderr


def test_keep_csr_leaves_the_issued_request_in_the_cluster(cluster):
    result = run_cli(
        "create", "bob", "-g", "dev", "--signer", "csr", "--approve", "--keep-csr", *EC
    )

    assert result.returncode == 0, result.stderr
    [kept] = csrs(cluster)
    assert kept["metadata"]["name"].startswith("usercert-bob-")
    assert kept["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kubectl-usercert"}
    assert kept["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client"
    assert kept["spec"]["usages"] == [
        "client auth",
        "digital signature",
    ]  # no key encipherment for EC
    assert kept["spec"]["username"] == "kubernetes-admin"
    issued = x509.load_pem_x509_certificate(base64.b64decode(kept["status"]["certificate"]))
    assert issued == certificate("bob")


def decided_by_someone_else(cluster, start, verb):
    """The tool waits on a request; a second kubectl process (the admin) approves or denies it."""
    tool = start("create", "alice", "-g", "dev", "--signer", "csr", *EC)
    name = submitted_csr(cluster)
    decided = cluster.admin("certificate", verb, name)
    assert decided.returncode == 0, decided.stderr
    return name, finish(tool)


def test_pending_request_is_picked_up_when_someone_else_approves(cluster, start):
    name, result = decided_by_someone_else(cluster, start, "approve")

    assert result.returncode == 0, result.stderr
    assert (
        f"Waiting for {name} to be approved and signed "
        f"(approve with: kubectl certificate approve {name})"
    ) in result.stderr
    assert whoami(cluster, "clients/alice/kubeconfig")["username"] == "alice"
    assert csrs(cluster) == []
    assert [r.user for r in cluster.server.records(path=f"{CSR_PATH}/{name}/approval")] == [
        "kubernetes-admin"
    ]


def test_denied_request_is_a_clear_error_and_leaves_nothing(cluster, start):
    name, result = decided_by_someone_else(cluster, start, "deny")

    assert result.returncode == 1
    assert (
        f"error: CertificateSigningRequest {name} was denied: KubectlDeny: "
        "This CSR was denied by kubectl certificate deny."
    ) in result.stderr
    assert "hint: nothing was written" in result.stderr
    assert not Path("clients/alice").exists() and ledger() == []
    assert csrs(cluster) == []


# The tool never asks for usages the kube-apiserver-client signer refuses, so a Failed request is
# provoked by running the real CLI in a child process whose csr_manifest also asks for "server auth":
# kubectl, the server's admission and the signer's usage check stay real, and the test sees what a
# user sees (exit code, stderr, files) when a cluster's signer fails a request.
_LAUNCHER_ASKING_FOR_SERVER_AUTH = f"""
import sys
sys.path.insert(0, {str(ROOT / "lib")!r})
from kubectl_usercert import cli
from kubectl_usercert.pki.signers import cluster_csr
original = cluster_csr.csr_manifest
def also_server_auth(*args, **kwargs):
    manifest = original(*args, **kwargs)
    manifest["spec"]["usages"].append("server auth")
    return manifest
cluster_csr.csr_manifest = also_server_auth
cli.main(["kubectl-usercert"] + sys.argv[1:])
"""


def test_failed_request_shows_the_signers_reason(cluster, start):
    tool = start(
        "create",
        "alice",
        "-g",
        "dev",
        "--signer",
        "csr",
        "--approve",
        *EC,
        argv=[sys.executable, "-c", _LAUNCHER_ASKING_FOR_SERVER_AUTH],
    )
    result = finish(tool)

    assert result.returncode == 1
    assert re.search(
        r"error: CertificateSigningRequest usercert-alice-\w+ failed: SignerValidationFailure: "
        r"invalid usage for client certificate: server auth",
        result.stderr,
    ), result.stderr
    assert not Path("clients/alice").exists() and ledger() == []
    assert csrs(cluster) == []


def test_nobody_approves_within_wait(cluster):
    began = time.monotonic()
    result = run_cli("create", "alice", "-g", "dev", "--signer", "csr", "--wait", "3s", *EC)
    elapsed = time.monotonic() - began

    assert result.returncode == 1
    assert re.search(
        r"error: no certificate for usercert-alice-\w+ after 3s; the request was withdrawn",
        result.stderr,
    ), result.stderr
    assert elapsed < 10
    assert len(csr_posts(cluster)) == 1 and csrs(cluster) == []
    assert not Path("clients/alice").exists()


def test_expiration_is_what_the_certificate_gets(cluster):
    result = run_cli(
        "create", "alice", "-g", "dev", "--signer", "csr", "--approve", "--expiration", "8h", *EC
    )

    assert result.returncode == 0, result.stderr
    cert = certificate("alice")
    # kube: notBefore 5 minutes back; from 8h on the end is backdated as well, so the window is 8h.
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(hours=8)
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(hours=7, minutes=54) < left <= datetime.timedelta(hours=7, minutes=55)
    assert "the cluster issued" not in result.stderr


def test_cluster_issuing_less_than_asked_is_reported(live_cluster):
    live_cluster.server.sign_csrs_with(
        live_cluster.client_ca.cert,
        live_cluster.client_ca.key,
        cluster_signing_duration=datetime.timedelta(hours=1),
    )

    result = run_cli(
        "create", "alice", "-g", "dev", "--signer", "csr", "--approve", "--expiration", "2h", *EC
    )

    assert result.returncode == 0, result.stderr
    assert "warning: the cluster issued 1h00m instead of the 2h00m asked for" in result.stderr
    cert = certificate("alice")
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(
        hours=1, minutes=5
    )


def test_days_beyond_what_expirationseconds_holds_are_capped_by_the_cluster(cluster):
    result = run_cli(
        "create", "alice", "-g", "dev", "--signer", "csr", "--approve", "--days", "36500", *EC
    )

    assert result.returncode == 0, result.stderr
    assert (
        "warning: the cluster issued 365 days instead of the 36500 days asked for" in result.stderr
    )


def test_auto_signer_uses_the_csr_api_without_a_ca_and_the_ca_when_given(cluster):
    from kubectl_usercert.pki.signers.local import locate_ca

    if locate_ca():
        pytest.skip("a CA key exists on this machine, so auto signs locally")
    through_api = run_cli("create", "alice", "-g", "dev", "--approve", *EC, "-o", "json")
    posts = len(csr_posts(cluster))
    with_ca = run_cli("create", "bob", "-g", "dev", *EC, *cluster.ca_args, "-o", "json")

    assert through_api.returncode == 0 and with_ca.returncode == 0, (
        through_api.stderr + with_ca.stderr
    )
    assert json.loads(through_api.stdout)["status"]["signer"] == "csr" and posts == 1
    # where it looked for a CA, in one line, before it turns to the CSR API (and not when a CA is given)
    steps = [line for line in through_api.stderr.splitlines() if line.startswith("- ")]
    said = [
        i for i, line in enumerate(steps) if line.startswith("- No CA key found here (looked in ")
    ]
    submitted = [
        i
        for i, line in enumerate(steps)
        if line.startswith("- Submitting CertificateSigningRequest")
    ]
    assert len(said) == 1 and said[0] < submitted[0], through_api.stderr
    assert (
        "/etc/kubernetes/pki/ca.{crt,key}" in steps[said[0]]
        and f"{Path.home()}/.minikube/ca.{{crt,key}}" in steps[said[0]]
        and steps[said[0]].endswith("signing through the cluster's CertificateSigningRequest API …")
    )
    assert "No CA key found" not in with_ca.stderr
    assert (
        json.loads(with_ca.stdout)["status"]["signer"] == "local" and len(csr_posts(cluster)) == 1
    )
    assert whoami(cluster, "clients/alice/kubeconfig")["username"] == "alice"
    assert whoami(cluster, "clients/bob/kubeconfig")["username"] == "bob"


@pytest.mark.parametrize("signer", ["csr", "auto"])
def test_system_masters_is_refused_before_anything_is_submitted(cluster, signer):
    result = run_cli(
        "create",
        "eve",
        "-g",
        "system:masters",
        "--allow-system-masters",
        "--signer",
        signer,
        "--approve",
        *EC,
    )

    assert result.returncode == 2
    assert "error: the CSR API refuses group system:masters" in result.stderr
    assert cluster.server.records(path=CSR_PATH) == []
    assert not Path("clients/eve").exists()


def test_renew_through_the_csr_api_keeps_the_key(cluster):
    assert (
        run_cli("create", "alice", "-g", "dev", "--signer", "csr", "--approve", *EC).returncode == 0
    )
    key_before, serial_before = (
        Path("clients/alice/alice.key").read_bytes(),
        certificate("alice").serial_number,
    )

    result = run_cli("renew", "alice", "--signer", "csr", "--approve")

    assert result.returncode == 0, result.stderr
    assert Path("clients/alice/alice.key").read_bytes() == key_before
    assert certificate("alice").serial_number != serial_before
    assert whoami(cluster, "clients/alice/kubeconfig") == {
        "username": "alice",
        "groups": ["dev", "system:authenticated"],
    }
    assert [(e["event"], e["signer"]) for e in ledger()] == [("issued", "csr"), ("renewed", "csr")]
    assert csrs(cluster) == []


def test_sign_a_users_own_request_through_the_csr_api(cluster, tmp_path):
    owner = tmp_path / "bobs-laptop"
    owner.mkdir()
    key = pki.new_key("ec")
    (owner / "bob.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dev"),
                x509.NameAttribute(NameOID.COMMON_NAME, "bob"),
            ]
        )
    )
    (owner / "bob.csr").write_bytes(
        request.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    )

    result = run_cli(
        "sign",
        "--csr",
        owner / "bob.csr",
        "--user",
        "bob",
        "-g",
        "dev",
        "--signer",
        "csr",
        "--approve",
    )

    assert result.returncode == 0, result.stderr
    assert "kubectl usercert import kubeconfig --set-current" in result.stderr
    assert not Path("clients/bob/bob.key").exists()
    # What an owner without the plugin does with the kubeconfig they were sent:
    kubeconfig = owner / "kubeconfig"
    kubeconfig.write_bytes(Path("clients/bob/kubeconfig").read_bytes())
    added = cluster.kubectl(
        kubeconfig,
        "config",
        "set-credentials",
        "bob",
        "--client-key",
        owner / "bob.key",
        "--embed-certs",
    )
    assert added.returncode == 0, added.stderr
    assert whoami(cluster, kubeconfig) == {
        "username": "bob",
        "groups": ["dev", "system:authenticated"],
    }
    [entry] = ledger()
    assert (entry["signer"], entry["keyHeldBy"]) == ("csr", "owner")
    assert csrs(cluster) == []


@pytest.fixture
def bot(cluster, tmp_path):
    """The kubeconfig of ci-bot, who may create, get and delete CSRs but not approve them."""
    cluster.server.seed(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "csr-requester"},
            "rules": [
                {
                    "apiGroups": ["certificates.k8s.io"],
                    "resources": ["certificatesigningrequests"],
                    "verbs": ["create", "get", "delete"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "csr-requester"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "csr-requester",
            },
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "ci-bot"}
            ],
        },
    )
    cert, key = pki.make_client_cert(cluster.client_ca, tmp_path / "bot", "ci-bot", ["automation"])
    return pki.write_kubeconfig(
        tmp_path / "bot" / "kubeconfig",
        cluster.server.url,
        cluster.server_ca.cert_path,
        cert,
        key,
        cluster="test-cluster",
        user="ci-bot",
        context="ci-bot",
    )


REFUSED_APPROVAL = (
    'User "ci-bot" cannot update resource "certificatesigningrequests/approval" in API group '
    '"certificates.k8s.io" at the cluster scope'
)


def test_admin_who_may_not_approve_waits_for_someone_who_may(cluster, bot, start):
    tool = start(
        "create", "alice", "-g", "dev", "--signer", "csr", "--approve", "--kubeconfig", bot, *EC
    )
    refused = cluster.server.wait_for(
        lambda: next(
            (r for r in cluster.server.records(status=403) if r.path.endswith("/approval")), None
        ),
        what="the tool's refused approval",
    )
    name = refused.path.split("/")[-2]
    approved = cluster.admin("certificate", "approve", name)
    result = finish(tool)

    assert refused.user == "ci-bot"
    assert approved.returncode == 0, approved.stderr
    assert result.returncode == 0, result.stderr
    assert f"warning: could not approve {name}: " in result.stderr
    assert REFUSED_APPROVAL in result.stderr and "waiting for someone who may" in result.stderr
    assert whoami(cluster, "clients/alice/kubeconfig")["username"] == "alice"
    assert csrs(cluster) == []


def test_refused_approval_is_explained_when_the_wait_runs_out(cluster, bot):
    result = run_cli(
        "create", "alice", "--signer", "csr", "--approve", "--wait", "2s", "--kubeconfig", bot, *EC
    )

    assert result.returncode == 1
    assert "the request was withdrawn" in result.stderr
    assert "approving it yourself failed: " in result.stderr and REFUSED_APPROVAL in result.stderr
    assert "use --approve" not in result.stderr
    assert (
        "hint: have someone who may approve requests for signer kubernetes.io/kube-apiserver-client"
        in result.stderr
    )
    assert csrs(cluster) == [] and not Path("clients/alice").exists()


# A certificate from the CSR API is used only if the cluster would accept it (issue 17, item 4).

SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


@pytest.fixture
def foreign_signer(live_cluster, tmp_path):
    """live_cluster whose CSR signer signs with a CA other than the one it trusts for clients (a
    lying or misconfigured signer: the certificates it hands back are refused with 401)."""
    other = pki.make_ca(tmp_path / "other", "not-the-client-ca", key_type="rsa")
    live_cluster.server.sign_csrs_with(other.cert, other.key)
    return live_cluster


def test_a_certificate_the_cluster_refuses_is_never_written(foreign_signer):
    result = run_cli("create", "alice", "-g", "dev", "--signer", "csr", "--approve", *EC)

    assert result.returncode == 1
    assert re.search(
        r"error: the cluster does not accept the certificate its CSR API issued for "
        r"usercert-alice-\w+ \(SelfSubjectReview: 401 Unauthorized\)",
        result.stderr,
    ), result.stderr
    assert "hint: nothing was written and the request was withdrawn" in result.stderr
    assert not Path("clients/alice").exists() and ledger() == [] and csrs(foreign_signer) == []
    assert [r.status for r in foreign_signer.server.records(path=SELF_SUBJECT_REVIEWS)] == [401]


def test_a_refused_renewal_leaves_the_credential_as_it_was(cluster, tmp_path):
    assert (
        run_cli("create", "alice", "-g", "dev", "--signer", "csr", "--approve", *EC).returncode == 0
    )
    before = (
        Path("clients/alice/alice.crt").read_bytes(),
        Path("clients/alice/kubeconfig").read_bytes(),
        ledger(),
    )
    other = pki.make_ca(tmp_path / "other", "not-the-client-ca", key_type="rsa")
    cluster.server.sign_csrs_with(other.cert, other.key)

    result = run_cli(
        "renew", "alice"
    )  # approved by this tool before: approved again, and refused by the cluster

    assert result.returncode == 1 and "the cluster does not accept the certificate" in result.stderr
    assert (
        Path("clients/alice/alice.crt").read_bytes(),
        Path("clients/alice/kubeconfig").read_bytes(),
        ledger(),
    ) == before
    assert sorted(p.name for p in Path("clients/alice").iterdir()) == [
        "alice.crt",
        "alice.key",
        "kubeconfig",
    ]
    assert (
        csrs(cluster) == [] and whoami(cluster, "clients/alice/kubeconfig")["username"] == "alice"
    )


def test_with_the_client_ca_given_the_chain_decides_without_asking(foreign_signer):
    refused = run_cli(
        "create",
        "alice",
        "--signer",
        "csr",
        "--approve",
        "--keep-csr",
        "--ca-cert",
        foreign_signer.client_ca.cert_path,
        *EC,
    )

    assert refused.returncode == 1
    assert (
        f"error: the new certificate does not verify against the CA {foreign_signer.client_ca.cert_path}"
        in refused.stderr
    )
    assert not Path("clients/alice").exists() and ledger() == [] and csrs(foreign_signer) == []
    foreign_signer.server.sign_csrs_with(
        foreign_signer.client_ca.cert, foreign_signer.client_ca.key
    )
    accepted = run_cli(
        "create",
        "alice",
        "--signer",
        "csr",
        "--approve",
        "--ca-cert",
        foreign_signer.client_ca.cert_path,
        *EC,
    )
    assert accepted.returncode == 0, accepted.stderr
    assert foreign_signer.server.records(path=SELF_SUBJECT_REVIEWS) == []  # the chain sufficed


@pytest.mark.parametrize("signer_ca", ["client", "other"])
def test_a_cluster_without_selfsubjectreview_is_asked_through_discovery(
    live_cluster, tmp_path, signer_ca
):
    ca = (
        live_cluster.client_ca
        if signer_ca == "client"
        else pki.make_ca(tmp_path / "other", "other", key_type="rsa")
    )
    live_cluster.server.sign_csrs_with(ca.cert, ca.key)
    for version in ("v1", "v1beta1", "v1alpha1"):
        live_cluster.server.store.types.pop(
            ("authentication.k8s.io", version, "selfsubjectreviews"), None
        )

    result = run_cli("create", "alice", "--signer", "csr", "--approve", *EC)

    if (
        signer_ca == "client"
    ):  # SelfSubjectReview is not found, so discovery shows the credential accepted
        assert result.returncode == 0, result.stderr
        assert (
            "could not be checked" in result.stderr
        )  # the note verify gives: accepted, names unchecked
        assert whoami_by_discovery(live_cluster, "clients/alice/kubeconfig") == 0
    else:  # authentication comes first: 401, whatever the API
        assert result.returncode == 1 and "401 Unauthorized" in result.stderr
        assert not Path("clients/alice").exists() and ledger() == [] and csrs(live_cluster) == []


def whoami_by_discovery(cluster, kubeconfig):
    return cluster.kubectl(kubeconfig, "get", "--raw", "/api").returncode


def test_a_cluster_that_forbids_selfsubjectreview_is_asked_through_discovery(cluster):
    assert cluster.admin("delete", "clusterrolebinding", "system:basic-user").returncode == 0

    result = run_cli("create", "alice", "--signer", "csr", "--approve", *EC)

    assert result.returncode == 0, result.stderr
    assert (
        "warning: RBAC forbids this user SelfSubjectReview: the credential is accepted"
        in result.stderr
    )
    assert [r.status for r in cluster.server.records(path=SELF_SUBJECT_REVIEWS)] == [403]
