"""One person, many clusters (issue 22): create --context A --context B against two and three test API
servers with CAs of their own (prod split like k3s), with real kubectl and cryptography as the oracle."""

import base64
import datetime
import json
import signal
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

import schema
from helpers import (
    EC,
    ClusterSpec,
    finish,
    ledger_lines,
    load_cert,
    run_cli,
    tree,
    whoami,
)

SSR = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


def ca_flags(*clusters):
    """--ca-cert CONTEXT=FILE --ca-key CONTEXT=FILE for each cluster (its client CA)."""
    flags = []
    for cluster in clusters:
        flags += [
            "--ca-cert",
            f"{cluster.context}={cluster.client_ca.cert_path}",
            "--ca-key",
            f"{cluster.context}={cluster.client_ca.key_path}",
        ]
    return flags


def contexts(*clusters):
    return [flag for cluster in clusters for flag in ("--context", cluster.context)]


def public_key(cert):
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def created(*args):
    return ok("create", *args)


def ok(*args):
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return result


def whoami_in(cluster, kubeconfig, context):
    """What a cluster says the kubeconfig's context `context` is (real kubectl): username and groups."""
    result = cluster.kubectl(kubeconfig, "--context", context, "auth", "whoami", "-o", "json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)["status"]["userInfo"]
    info.pop("extra", None)
    return info


def test_one_key_a_certificate_from_each_cluster_and_one_kubeconfig(fleet):
    clusters = list(fleet)
    created("alice", "developers", "-g", "oncall", *EC, *contexts(*clusters), *ca_flags(*clusters))

    folder = Path("clients/alice")
    kubeconfig = folder / "kubeconfig"
    assert tree(folder) == [
        "alice.key",
        "clusters",
        "clusters/lab.crt",
        "clusters/prod.crt",
        "clusters/staging.crt",
        "kubeconfig",
    ]
    keys = set()
    for cluster in clusters:
        cert = load_cert(folder / "clusters" / f"{cluster.context}.crt")
        cert.verify_directly_issued_by(cluster.client_ca.cert)
        keys.add(public_key(cert))
        assert whoami_in(cluster, kubeconfig, f"alice@{cluster.context}") == {
            "username": "alice",
            "groups": ["developers", "oncall", "system:authenticated"],
        }
        # each context reached its own server (prod's CA is split: its kubeconfig trusts the server CA)
        assert [r.user for r in cluster.server.records(path=SSR)] == ["alice"]
    assert len(keys) == 1  # the same public key in every certificate

    config = yaml.safe_load(kubeconfig.read_text())
    assert config["current-context"] == "alice@prod"
    assert [c["name"] for c in config["contexts"]] == ["alice@prod", "alice@staging", "alice@lab"]
    assert [u["name"] for u in config["users"]] == ["alice@prod", "alice@staging", "alice@lab"]
    assert [c["name"] for c in config["clusters"]] == ["prod", "staging", "lab"]
    assert all("client-key-data" in u["user"] for u in config["users"])
    lines = ledger_lines()
    assert [(line["cluster"], line["context"], line["event"]) for line in lines] == [
        ("prod", "prod", "issued"),
        ("staging", "staging", "issued"),
        ("lab", "lab", "issued"),
    ]
    assert {tuple(line["fleet"]) for line in lines} == {("prod", "staging", "lab")}
    assert len({line["time"] for line in lines}) == 1  # appended as one step
    assert {line["server"] for line in lines} == {c.server.url for c in clusters}
    assert [line["caFingerprintSHA256"] for line in lines] == [
        c.client_ca.cert.fingerprint(hashes.SHA256()).hex(":").upper() for c in clusters
    ]


def test_o_json_is_a_list_of_a_certificate_per_cluster(make_fleet):
    fleet = make_fleet(ClusterSpec("prod"), ClusterSpec("staging", split_ca=False))
    prod, staging = fleet
    result = created(
        "alice",
        *EC,
        *contexts(prod, staging),
        *ca_flags(prod),
        "--approve",
        "--verify",
        "-o",
        "json",
    )

    answer = json.loads(result.stdout)
    schema.check(answer)
    assert answer["kind"] == "UserCertificateList"
    assert [
        (i["status"]["cluster"], i["status"]["context"], i["status"]["adminContext"])
        for i in answer["items"]
    ] == [("prod", "alice@prod", "prod"), ("staging", "alice@staging", "staging")]
    assert [i["status"]["signer"] for i in answer["items"]] == ["local", "csr"]
    assert {i["status"]["kubeconfig"] for i in answer["items"]} == {"clients/alice/kubeconfig"}
    assert {i["status"]["key"] for i in answer["items"]} == {"clients/alice/alice.key"}
    assert all(i["status"]["verification"]["ok"] for i in answer["items"])


CSR = ("certificates.k8s.io/v1", "CertificateSigningRequest")
CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


def requests_on(cluster):
    return cluster.server.list(*CSR)


def filed_on(cluster):
    return [r for r in cluster.server.records(path=CSR_PATH) if r.method == "POST"]


def submitted(cluster):
    """The name of the request the tool filed on `cluster`, once the server holds it."""
    return cluster.server.wait_for(
        lambda: next((c["metadata"]["name"] for c in requests_on(cluster)), None),
        what="a CertificateSigningRequest",
    )


def left_nothing(fleet):
    """Nothing written, recorded or left filed anywhere."""
    assert not Path("clients").exists() or tree("clients") == [], tree("clients")
    assert ledger_lines() == []
    for cluster in fleet:
        assert requests_on(cluster) == [], cluster.context


def test_a_denied_request_on_one_cluster_leaves_nothing_on_any(fleet, start):
    prod, staging, lab = fleet
    tool = start(
        "create",
        "alice",
        "dev",
        *EC,
        *contexts(prod, staging, lab),
        *ca_flags(prod),
        "--wait",
        "60s",
    )
    name = submitted(staging)
    assert staging.admin("certificate", "deny", name).returncode == 0
    result = finish(tool)

    assert result.returncode == 1, result.stderr
    assert "error: nothing was issued for alice: staging failed, and a person gets every" in (
        result.stderr
    )
    assert "prod (context prod): signed here, then discarded" in result.stderr
    assert f"staging (context staging): failed: CertificateSigningRequest {name} was denied" in (
        result.stderr
    )
    assert "lab (context lab): not asked" in result.stderr
    assert filed_on(lab) == []  # nothing is filed after a cluster failed
    left_nothing(fleet)


def test_a_timeout_withdraws_the_requests_kept_on_the_other_clusters(make_fleet):
    fleet = make_fleet(ClusterSpec("prod"), ClusterSpec("staging", sign_csrs=False))
    prod, staging = fleet
    result = run_cli(
        "create", "alice", *EC, *contexts(prod, staging), "--approve", "--keep-csr", "--wait", "2s"
    )

    assert result.returncode == 1, result.stderr
    assert "prod (context prod): signed, then withdrawn" in result.stderr
    assert len(filed_on(prod)) == 1 and len(filed_on(staging)) == 1
    left_nothing(fleet)  # prod's request, kept with --keep-csr on success, was withdrawn too


def test_a_missing_role_on_one_cluster_is_found_before_anything_is_made(make_fleet):
    fleet = make_fleet(ClusterSpec("prod"), ClusterSpec("staging"))
    prod, staging = fleet
    made = prod.admin("create", "clusterrole", "pod-reader", "--verb=get", "--resource=pods")
    assert made.returncode == 0, made.stderr

    result = run_cli(
        "create", "alice", *EC, *contexts(prod, staging), "--approve", "--clusterrole", "pod-reader"
    )

    assert result.returncode == 1
    assert "error: nothing was issued to alice: 1 of 2 clusters cannot take it" in result.stderr
    assert "prod (context prod): ready" in result.stderr
    assert 'staging (context staging): ClusterRole "pod-reader" does not exist' in result.stderr
    assert filed_on(prod) == [] and filed_on(staging) == []
    left_nothing(fleet)


def test_an_unreachable_cluster_is_found_before_anything_is_filed(fleet, tmp_path):
    prod, staging, _lab = fleet
    admin = yaml.safe_load(fleet.kubeconfig.read_text())
    gone = dict(admin["clusters"][1]["cluster"], server="https://127.0.0.1:9")  # nothing listens
    admin["clusters"].append({"name": "gone", "cluster": gone})
    admin["contexts"].append({"name": "gone", "context": {"cluster": "gone", "user": "prod-admin"}})
    fleet.kubeconfig.write_text(json.dumps(admin))

    result = run_cli(
        "create",
        "alice",
        *EC,
        "--context",
        "prod",
        "--context",
        "gone",
        "--approve",
        "--request-timeout",
        "5s",
    )

    assert result.returncode == 1
    assert "1 of 2 clusters cannot take it" in result.stderr
    assert "gone (context gone): kubectl could not ask whether it takes" in result.stderr
    assert "the cluster could not be reached" in result.stderr
    assert filed_on(prod) == []
    left_nothing(fleet)


def test_a_signal_while_the_second_cluster_signs_withdraws_everything(make_fleet, start):
    fleet = make_fleet(ClusterSpec("prod"), ClusterSpec("staging", sign_csrs=False))
    prod, staging = fleet
    tool = start(
        "create", "alice", *EC, *contexts(prod, staging), "--approve", "--keep-csr", "--wait", "60s"
    )
    submitted(staging)
    staging.server.wait_for(
        lambda: any(r.path.endswith("/approval") for r in staging.server.records()),
        what="the approval",
    )
    tool.send_signal(signal.SIGTERM)
    result = finish(tool)

    assert result.returncode == 143, result.stderr
    assert "nothing was written" in result.stderr
    assert len(filed_on(prod)) == 1  # signed and kept (--keep-csr) ... then withdrawn
    left_nothing(fleet)


def test_two_admin_kubeconfigs_with_the_same_names(fleet, monkeypatch):
    """staging's and lab's own kubeconfigs both say cluster kubernetes, user kubernetes-admin: with
    KUBECONFIG=staging:lab kubectl would take context lab to staging. The fleet reads lab from its
    own file, and names the clusters apart in the person's kubeconfig."""
    _prod, staging, lab = fleet
    monkeypatch.setenv("KUBECONFIG", fleet.kubeconfig_path("staging", "lab"))

    result = created("alice", "dev", *EC, *contexts(staging, lab), "--approve")

    assert 'context "lab": its cluster "kubernetes" and user "kubernetes-admin" are defined ' in (
        result.stderr
    )
    kubeconfig = Path("clients/alice/kubeconfig")
    config = yaml.safe_load(kubeconfig.read_text())
    assert [c["name"] for c in config["clusters"]] == ["staging", "lab"]
    assert [c["name"] for c in config["contexts"]] == ["alice@staging", "alice@lab"]
    for cluster in (staging, lab):
        assert whoami_in(cluster, kubeconfig, f"alice@{cluster.context}")["username"] == "alice"
        load_cert(f"clients/alice/clusters/{cluster.context}.crt").verify_directly_issued_by(
            cluster.client_ca.cert
        )
        assert len(filed_on(cluster)) == 1  # each context's request went to its own server
    assert [line["server"] for line in ledger_lines()] == [staging.server.url, lab.server.url]


def test_an_unknown_context_is_bad_input(fleet):
    result = run_cli("create", "alice", *EC, "--context", "prod", "--context", "qa", "--approve")

    assert result.returncode == 2
    assert result.stderr.splitlines()[-2:] == [
        f'error: context "qa" not found in {fleet.kubeconfig}',
        "hint: the contexts there: lab, prod, staging (kubectl config get-contexts)",
    ]
    left_nothing(fleet)


def test_a_ca_file_for_no_cluster_is_bad_input(fleet):
    prod, staging, _lab = fleet
    plain = run_cli("create", "alice", *EC, *contexts(prod, staging), *prod.ca_args)
    stray = run_cli("create", "alice", *EC, *contexts(prod, staging), *ca_flags(fleet["lab"]))

    assert plain.returncode == 2 and stray.returncode == 2
    assert "error: --ca-cert/--ca-key FILE names no cluster, and there are 2" in plain.stderr
    assert 'name context "lab", which is not one of the clusters (prod, staging)' in stray.stderr
    left_nothing(fleet)


def test_a_key_per_cluster(make_fleet):
    fleet = make_fleet(ClusterSpec("prod"), ClusterSpec("staging", split_ca=False))
    prod, staging = fleet
    created("alice", *EC, *contexts(prod, staging), *ca_flags(prod, staging), "--key-per-cluster")

    assert tree("clients/alice") == [
        "clusters",
        "clusters/prod.crt",
        "clusters/prod.key",
        "clusters/staging.crt",
        "clusters/staging.key",
        "kubeconfig",
    ]
    keys = {public_key(load_cert(f"clients/alice/clusters/{c}.crt")) for c in ("prod", "staging")}
    assert len(keys) == 2
    for cluster in fleet:
        assert whoami_in(cluster, "clients/alice/kubeconfig", f"alice@{cluster.context}")


def test_all_contexts_the_current_one_first(fleet):
    fleet.kubeconfig.write_text(
        json.dumps(dict(yaml.safe_load(fleet.kubeconfig.read_text()), **{"current-context": "lab"}))
    )
    created("alice", *EC, "--all-contexts", *ca_flags(*fleet))

    config = yaml.safe_load(Path("clients/alice/kubeconfig").read_text())
    assert config["current-context"] == "alice@lab"
    assert [c["name"] for c in config["contexts"]] == ["alice@lab", "alice@prod", "alice@staging"]


def test_one_context_is_a_single_cluster_create_as_before(fleet):
    staging = fleet["staging"]
    created(
        "alice",
        *EC,
        "--context",
        "staging",
        "--ca-cert",
        f"staging={staging.client_ca.cert_path}",
        "--ca-key",
        f"staging={staging.client_ca.key_path}",
    )

    assert tree("clients/alice") == ["alice.crt", "alice.key", "kubeconfig"]
    assert whoami(staging, "clients/alice/kubeconfig")["username"] == "alice"
    [line] = ledger_lines()
    assert line["cluster"] == "staging" and line["context"] == "staging" and "fleet" not in line


def test_list_shows_a_row_per_user_and_cluster_and_whois_names_the_cluster(fleet):
    prod, staging, lab = fleet
    created(
        "alice",
        "dev",
        *EC,
        *contexts(prod, staging, lab),
        *ca_flags(*fleet),
        "--clusterrole",
        "view",
    )
    created("bob", *EC, "--context", "prod", *prod.ca_args)

    table = run_cli("list")
    answer = json.loads(run_cli("list", "-o", "json").stdout)

    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["USER", "CLUSTER", "GROUPS"]
    rows = sorted(line.split()[:2] for line in lines[1:] if line.startswith("alice"))
    assert rows == [["alice", "lab"], ["alice", "prod"], ["alice", "staging"]]
    assert all(line.split()[-1] == "usercert:alice:view" for line in lines[1:] if "alice" in line)
    schema.check(answer)
    fleet_items = [i for i in answer["items"] if i["spec"]["user"] == "alice"]
    assert sorted((i["status"]["cluster"], i["status"]["server"]) for i in fleet_items) == sorted(
        (c.context, c.server.url) for c in fleet
    )
    assert all(len(i["status"]["bindings"]) == 1 for i in fleet_items)  # asked on its own cluster
    [bob] = [i for i in answer["items"] if i["spec"]["user"] == "bob"]
    assert "cluster" not in bob["status"]

    staging_item = next(i for i in fleet_items if i["status"]["cluster"] == "staging")
    found = json.loads(
        run_cli("whois", staging_item["status"]["credentialID"], "-o", "json").stdout
    )
    schema.check(found)
    [match] = found["status"]["matches"]
    assert (match["user"], match["cluster"], match["context"], match["server"]) == (
        "alice",
        "staging",
        "staging",
        staging.server.url,
    )
    said = run_cli("whois", staging_item["status"]["fingerprintSHA256"]).stderr
    assert "on cluster staging (context staging)" in said


def test_a_fleet_folder_keeps_the_bindings_applied_on_every_cluster(fleet):
    """rbac.yaml holds the bindings create applied on each cluster: kubectl apply -f of it on each
    finds every object unchanged."""
    prod, staging, _ = fleet
    created(
        "alice", "dev", *EC, *contexts(prod, staging), *ca_flags(prod, staging),
        "--clusterrole", "view",
    )  # fmt: skip
    kept = Path("clients/alice/rbac.yaml")
    assert kept.stat().st_mode & 0o777 == 0o600
    for cluster in (prod, staging):
        again = cluster.admin("apply", "-f", str(kept))
        assert again.returncode == 0, again.stderr
        lines = again.stdout.splitlines()
        assert lines and all(line.endswith(" unchanged") for line in lines), again.stdout


def bindings_on(cluster, user="alice"):
    answer = cluster.admin(
        "get",
        "clusterrolebindings",
        "-l",
        "app.kubernetes.io/managed-by=kubectl-usercert",
        "-o",
        "json",
    )
    assert answer.returncode == 0, answer.stderr
    return [
        item["metadata"]["name"]
        for item in json.loads(answer.stdout)["items"]
        if item["metadata"]["annotations"].get("kubectl-usercert/user") == user
    ]


def kubeconfig_cert(kubeconfig, context):
    """The certificate the person's kubeconfig holds for one context (its user's)."""
    config = yaml.safe_load(Path(kubeconfig).read_text())
    user = next(c["context"]["user"] for c in config["contexts"] if c["name"] == context)
    data = next(u["user"]["client-certificate-data"] for u in config["users"] if u["name"] == user)
    return x509.load_pem_x509_certificate(base64.b64decode(data))


def test_renew_verify_inspect_and_revoke_act_per_cluster(fleet):
    prod, staging, lab = fleet
    created(
        "alice", "dev", *EC, *contexts(prod, staging, lab), *ca_flags(prod), "--approve",
        "--clusterrole", "view", "--expiration", "2h",
    )  # fmt: skip
    folder, kubeconfig = Path("clients/alice"), Path("clients/alice/kubeconfig")
    before = {c.context: load_cert(folder / "clusters" / f"{c.context}.crt") for c in fleet}
    assert all(bindings_on(c) == ["usercert:alice:view"] for c in fleet)

    # renew one cluster: only its certificate changes, signed as it was there, for the same key
    one = run_cli("renew", "alice", "--context", "staging", "-o", "json")
    assert one.returncode == 0, one.stderr
    answer = json.loads(one.stdout)
    schema.check(answer)
    [item] = answer["items"]
    previous = item["status"]["previousSerial"]  # as openssl prints it: an even number of digits
    assert (item["status"]["cluster"], int(previous, 16)) == (
        "staging",
        before["staging"].serial_number,
    )
    assert previous == f"{before['staging'].serial_number:X}".rjust(len(previous), "0")
    assert len(previous) % 2 == 0
    renewed = load_cert(folder / "clusters/staging.crt")
    assert renewed.serial_number != before["staging"].serial_number
    assert kubeconfig_cert(kubeconfig, "alice@staging") == renewed
    assert public_key(renewed) == public_key(before["staging"])
    assert renewed.not_valid_after_utc - renewed.not_valid_before_utc == datetime.timedelta(
        hours=2, minutes=5
    )  # the lifetime it was issued with (the cluster's signer backdates five minutes)
    for context in ("prod", "lab"):
        assert load_cert(folder / "clusters" / f"{context}.crt") == before[context]
    assert whoami_in(staging, kubeconfig, "alice@staging")["username"] == "alice"

    # renew all: each cluster as it was issued there (prod's recorded CA, the others' CSR API)
    ok("renew", "alice")
    for cluster in fleet:
        cert = load_cert(folder / "clusters" / f"{cluster.context}.crt")
        cert.verify_directly_issued_by(cluster.client_ca.cert)
        assert public_key(cert) == public_key(before["prod"])
        assert cert.serial_number != before[cluster.context].serial_number
    assert len(filed_on(prod)) == 0 and len(filed_on(lab)) == 2 and len(filed_on(staging)) == 3
    renewed_lines = [line for line in ledger_lines() if line["event"] == "renewed"]
    assert [line["cluster"] for line in renewed_lines] == ["staging", "prod", "staging", "lab"]

    verified = run_cli("verify", "alice", "-o", "json")
    assert verified.returncode == 0, verified.stderr
    verifications = json.loads(verified.stdout)
    schema.check(verifications)
    assert verifications["kind"] == "VerificationList"
    assert [(i["status"]["cluster"], i["status"]["ok"]) for i in verifications["items"]] == [
        ("prod", True),
        ("staging", True),
        ("lab", True),
    ]
    inspected = json.loads(ok("inspect", "alice", "--context", "prod", "-o", "json").stdout)
    schema.check(inspected)
    [report] = inspected["items"]
    assert report["status"]["chainValid"] is True and report["status"]["cluster"] == "prod"
    assert [b["name"] for b in report["status"]["bindings"]] == ["usercert:alice:view"]

    # revoke one cluster: its bindings and files go, the others stay
    gone = run_cli("revoke", "alice", "--context", "lab", "-o", "json")
    assert gone.returncode == 0, gone.stderr
    schema.check(json.loads(gone.stdout))
    assert bindings_on(lab) == [] and bindings_on(prod) == bindings_on(staging) == [
        "usercert:alice:view"
    ]
    assert not (folder / "clusters/lab.crt").exists()
    config = yaml.safe_load(kubeconfig.read_text())
    assert [c["name"] for c in config["contexts"]] == ["alice@prod", "alice@staging"]
    assert whoami_in(prod, kubeconfig, "alice@prod")["username"] == "alice"
    states = {
        (i["status"]["cluster"], i["status"]["state"])
        for i in json.loads(run_cli("list", "-o", "json").stdout)["items"]
    }
    assert states == {("prod", "valid"), ("staging", "valid"), ("lab", "revoked")}
    refused = run_cli("renew", "alice", "--context", "lab")
    assert refused.returncode == 2 and "alice was revoked on lab" in refused.stderr

    # revoke the rest: every binding goes, the folder is archived, a line per cluster
    ok("revoke", "alice")
    assert all(bindings_on(c) == [] for c in fleet)
    assert not folder.exists()
    revoked = [line for line in ledger_lines() if line["event"] == "revoked"]
    assert [line["cluster"] for line in revoked] == ["lab", "prod", "staging"]


def test_renew_refuses_a_context_that_reaches_another_server_now(make_fleet):
    fleet = make_fleet(ClusterSpec("prod"), ClusterSpec("staging"))
    prod, staging = fleet
    created("alice", *EC, *contexts(prod, staging), "--approve")
    admin = yaml.safe_load(fleet.kubeconfig.read_text())
    admin["clusters"][1]["cluster"] = dict(admin["clusters"][0]["cluster"])  # staging -> prod's
    fleet.kubeconfig.write_text(json.dumps(admin))

    result = run_cli("renew", "alice", "--context", "staging")

    assert result.returncode == 2
    assert (
        f"error: context 'staging' now reaches {prod.server.url}, and the certificate on staging "
        f"was issued for {staging.server.url}"
    ) in result.stderr


def test_rekey_of_one_cluster_of_one_key_is_refused(make_fleet):
    fleet = make_fleet(ClusterSpec("prod"), ClusterSpec("staging", split_ca=False))
    prod, staging = fleet
    created("alice", *EC, *contexts(prod, staging), *ca_flags(prod, staging))

    result = run_cli("renew", "alice", "--context", "prod", "--rekey")
    everything = run_cli("renew", "alice", "--rekey")

    assert result.returncode == 2 and "--rekey makes a new key for alice" in result.stderr
    assert everything.returncode == 0, everything.stderr
    keys = {public_key(load_cert(f"clients/alice/clusters/{c}.crt")) for c in ("prod", "staging")}
    assert len(keys) == 1  # a new key, still one for both


def fleet_roster(fleet, users, clusters=None):
    """A UserRoster with spec.clusters: prod signed with its CA files, staging and lab through their
    CSR API (by default)."""
    prod = fleet["prod"]
    listed = clusters or (
        f"  - {{context: prod, caCert: {prod.client_ca.cert_path}, caKey: {prod.client_ca.key_path}}}\n"
        "  - {context: staging, signer: csr}\n"
        "  - {context: lab}\n"
    )
    return (
        "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nmetadata: {name: fleet}\n"
        "spec:\n  defaults: {keyType: ecdsa, days: 30}\n  clusters:\n"
        + listed
        + "  users:\n"
        + users
    )


def plan_of(result):
    """{(user, cluster): (actions, outcome)} of apply's -o json."""
    answer = json.loads(result.stdout)
    schema.check(answer)
    return {
        (u["name"], u.get("cluster")): (",".join(u["actions"]), u["outcome"])
        for u in answer["status"]["users"]
    }


@pytest.mark.cost(9)
def test_a_roster_with_clusters_plans_and_acts_per_user_and_cluster(fleet):
    prod, staging, lab = fleet
    Path("team.yaml").write_text(
        fleet_roster(
            fleet,
            "  - {name: alice, groups: [dev], clusterRoles: [view]}\n"
            "  - {name: bob, groups: [dev], clusters: [prod, lab]}\n",
        )
    )
    first = run_cli("apply", "-f", "team.yaml", "--approve", "-o", "json")

    assert first.returncode == 0, first.stderr
    assert plan_of(first) == {
        ("alice", "prod"): ("create,rebind", "done"),
        ("alice", "staging"): ("create,rebind", "done"),
        ("alice", "lab"): ("create,rebind", "done"),
        ("bob", "prod"): ("create", "done"),
        ("bob", "lab"): ("create", "done"),
    }
    for cluster in fleet:
        kubeconfig = "clients/alice/kubeconfig"
        assert whoami_in(cluster, kubeconfig, f"alice@{cluster.context}")["username"] == "alice"
        assert bindings_on(cluster) == ["usercert:alice:view"]
    assert filed_on(prod) == [] and len(filed_on(staging)) == 1 and len(filed_on(lab)) == 2
    assert tree("clients/bob/clusters") == ["lab.crt", "prod.crt"]
    again = run_cli("apply", "-f", "team.yaml", "--approve", "-o", "json")
    assert set(plan_of(again).values()) == {("unchanged", "unchanged")}

    # alice: sre instead of dev, edit instead of view, off lab; bob: on staging too
    Path("team.yaml").write_text(
        fleet_roster(
            fleet,
            "  - {name: alice, groups: [sre], clusterRoles: [edit], clusters: [prod, staging]}\n"
            "  - {name: bob, groups: [dev]}\n",
        )
    )
    planned = run_cli("apply", "-f", "team.yaml", "--approve", "--prune", "--dry-run", "-o", "json")
    changed = run_cli("apply", "-f", "team.yaml", "--approve", "--prune", "-o", "json")

    assert planned.returncode == 0 and changed.returncode == 0, changed.stderr
    assert {k: a for k, (a, _) in plan_of(planned).items()} == {
        k: a for k, (a, _) in plan_of(changed).items()
    }
    assert plan_of(changed) == {
        ("alice", "prod"): ("reissue,rebind", "done"),
        ("alice", "staging"): ("reissue,rebind", "done"),
        ("alice", "lab"): ("prune", "done"),
        ("bob", "prod"): ("unchanged", "unchanged"),
        ("bob", "lab"): ("unchanged", "unchanged"),
        ("bob", "staging"): ("create", "done"),
    }
    for cluster in (prod, staging):
        seen = whoami_in(cluster, "clients/alice/kubeconfig", f"alice@{cluster.context}")
        assert seen["groups"] == ["sre", "system:authenticated"]
        assert bindings_on(cluster) == ["usercert:alice:edit"]
    assert bindings_on(lab) == []  # pruned there
    assert whoami_in(staging, "clients/bob/kubeconfig", "bob@staging")["username"] == "bob"
    bob_keys = {public_key(load_cert(f"clients/bob/clusters/{c.context}.crt")) for c in fleet}
    assert len(bob_keys) == 1  # staging's certificate is for bob's one key


def test_a_roster_naming_an_unknown_context_is_one_line(fleet):
    Path("team.yaml").write_text(
        fleet_roster(
            fleet, "  - {name: alice}\n", clusters="  - {context: prod}\n  - {context: qa}\n"
        )
    )
    result = run_cli("apply", "-f", "team.yaml")
    other = Path("other.yaml")
    other.write_text(fleet_roster(fleet, "  - {name: alice, clusters: [prod, dev]}\n"))
    user = run_cli("apply", "-f", "other.yaml")

    assert result.returncode == 2 and user.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[-2] == (
        "error: team.yaml:8: spec.clusters[1].context: context 'qa' not found in "
        f"{fleet.kubeconfig}"
    )
    assert lines[-1].startswith("hint: the contexts there: lab, prod, staging")
    assert "other.yaml:11: spec.users[0].clusters[1]: 'dev' is not a context of spec.clusters" in (
        user.stderr
    )
    left_nothing(fleet)


def test_a_roster_person_failing_on_one_cluster_gets_nothing_and_the_others_go_on(fleet):
    prod, staging, lab = fleet
    assert (
        prod.admin(
            "create", "clusterrole", "pod-reader", "--verb=get", "--resource=pods"
        ).returncode
        == 0
    )
    Path("team.yaml").write_text(
        fleet_roster(
            fleet,
            "  - {name: alice, groups: [dev]}\n"
            "  - {name: bob, groups: [dev], clusterRoles: [pod-reader]}\n",
        )
    )
    result = run_cli("apply", "-f", "team.yaml", "--approve", "-o", "json")

    assert result.returncode == 1
    plan = plan_of(result)
    assert {plan[("alice", c.context)] for c in fleet} == {("create", "done")}
    assert {plan[("bob", c.context)][1] for c in fleet} == {"failed"}
    error = json.loads(result.stdout)["status"]["users"][-1]["error"]
    assert 'staging (context staging): ClusterRole "pod-reader" does not exist' in error or (
        'ClusterRole "pod-reader" does not exist' in error
    )
    assert not Path("clients/bob").exists()
    assert {line["user"] for line in ledger_lines()} == {"alice"}
    assert all(
        r["metadata"]["name"].startswith("usercert-alice") for c in fleet for r in requests_on(c)
    ) or all(requests_on(c) == [] for c in fleet)
