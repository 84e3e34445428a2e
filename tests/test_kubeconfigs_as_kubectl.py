"""Kubeconfigs as kubectl reads them (issue 18, item 4): what kubectl refuses is refused, what kubectl
accepts is accepted. Real kubectl is the oracle on the same file: `kubectl config view` for loading,
and a request to the test API server where a cluster is needed."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import default_kubectl
from helpers import EC, SERVER, ca_args, run_cli, run_here, tree, whoami


def wrapped(data, separator, width=64):
    return separator.join(data[i : i + width] for i in range(0, len(data), width))


def variant(config, change):
    """A copy of the kubeconfig mapping `config` changed as `change` names."""
    config = json.loads(json.dumps(config))
    cluster = config["clusters"][0]["cluster"]
    data = cluster.get("certificate-authority-data", "")
    user = config["users"][0]
    if change == "two clusters of one name":
        config["clusters"].append(json.loads(json.dumps(config["clusters"][0])))
    elif change == "two unused clusters of one name":
        config["clusters"] += [{"name": "spare", "cluster": {"server": SERVER}}] * 2
    elif change == "two contexts of one name":
        config["contexts"].append(config["contexts"][0])
    elif change == "two users of one name":
        config["users"].append(user)
    elif change.startswith("CA data wrapped with "):
        cluster["certificate-authority-data"] = wrapped(
            data, json.loads(change.split(" with ", 1)[1])
        )
    elif change == "CA data with a final newline":
        cluster["certificate-authority-data"] = data + "\n"
    elif change == "CA data unpadded":
        cluster["certificate-authority-data"] = data.rstrip("=")
    elif change == "CA data in the URL-safe alphabet":
        cluster["certificate-authority-data"] = data.replace("+", "-").replace("/", "_")
    elif change == "CA data with more after its padding":
        cluster["certificate-authority-data"] = data + data
    elif change == "client key data wrapped with CRLF":
        user["user"]["client-key-data"] = wrapped(user["user"]["client-key-data"], "\r\n", 76)
    return config


ACCEPTED = [
    "unchanged",
    'CA data wrapped with "\\n"',
    'CA data wrapped with "\\r\\n"',
    'CA data wrapped with "\\r"',
    "CA data with a final newline",
    "client key data wrapped with CRLF",
]
REFUSED = [
    "two clusters of one name",
    "two unused clusters of one name",
    "two contexts of one name",
    "two users of one name",
    'CA data wrapped with " "',
    'CA data wrapped with "\\t"',
    "CA data unpadded",
    "CA data in the URL-safe alphabet",
    "CA data with more after its padding",
]


@pytest.fixture
def base_config(server_ca, tmp_path):
    """An admin kubeconfig whose CA data has padding and both of the alphabet's last characters."""
    import base64

    payload = (
        b"\xfb\xef\xbe\xff\xff\xff" + Path(server_ca.cert_path).read_bytes()
    )  # "++++////" first
    data = base64.b64encode(payload + b"\n" * (len(payload) % 3 == 0)).decode()
    assert data.endswith("=") and "+" in data and "/" in data, data
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "ctx",
        "clusters": [
            {"name": "c", "cluster": {"server": SERVER, "certificate-authority-data": data}}
        ],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "admin"}}],
        "users": [
            {"name": "admin", "user": {"client-key-data": base64.b64encode(b"k" * 200).decode()}}
        ],
    }


@pytest.mark.parametrize("change", ACCEPTED + REFUSED)
def test_we_accept_exactly_what_kubectl_accepts(capsys, signing_ca, isolated, base_config, change):
    Path("admin.conf").write_text(json.dumps(variant(base_config, change)))
    kubectl = subprocess.run(
        [default_kubectl(), "config", "view", "--kubeconfig", "admin.conf"],
        capture_output=True,
        text=True,
    )
    assert (kubectl.returncode == 0) == (change in ACCEPTED), kubectl.stderr
    ours = run_here(
        capsys, "create", "alice", *EC, *ca_args(signing_ca), "--kubeconfig", "admin.conf"
    )
    assert "Traceback" not in ours.stderr and "internal error" not in ours.stderr
    if change in ACCEPTED:
        assert ours.returncode == 0, ours.stderr
        written = yaml.safe_load(Path("clients/alice/kubeconfig").read_text())
        assert "\n" not in written["clusters"][0]["cluster"]["certificate-authority-data"]
    else:
        assert ours.returncode == 2 and ours.stderr.count("error: ") == 1, ours.stderr
        assert tree(isolated) == ["admin.conf"]


def test_duplicates_are_named_as_kubectl_names_them(capsys, signing_ca, isolated, base_config):
    Path("admin.conf").write_text(json.dumps(variant(base_config, "two users of one name")))
    result = run_here(
        capsys, "create", "alice", *EC, *ca_args(signing_ca), "--kubeconfig", "admin.conf"
    )
    assert (
        'admin.conf: two users are named "admin"' in result.stderr
        and "duplicate name" in result.stderr
    )


def test_a_wrapped_ca_works_end_to_end_and_a_duplicate_fails_alike(
    live_cluster, isolated, tmp_path
):
    config = yaml.safe_load(live_cluster.admin_kubeconfig.read_text())
    config["clusters"][0]["cluster"]["certificate-authority-data"] = wrapped(
        config["clusters"][0]["cluster"]["certificate-authority-data"], "\n", 76
    )
    for entry in config["users"]:
        entry["user"] = {key: wrapped(value, "\r\n") for key, value in entry["user"].items()}
    wrapped_conf = tmp_path / "wrapped.conf"
    wrapped_conf.write_text(yaml.safe_dump(config))
    assert whoami(live_cluster, wrapped_conf)["username"] == "kubernetes-admin"  # kubectl takes it
    made = run_cli(
        "create",
        "alice",
        "dev",
        *EC,
        *live_cluster.ca_args,
        "--kubeconfig",
        wrapped_conf,
        "--clusterrole",
        "view",
    )
    assert made.returncode == 0, made.stderr
    assert whoami(live_cluster, "clients/alice/kubeconfig")["username"] == "alice"
    config["contexts"].append(config["contexts"][0])
    twice = tmp_path / "twice.conf"
    twice.write_text(yaml.safe_dump(config))
    said = live_cluster.kubectl(twice, "auth", "whoami")
    assert said.returncode != 0 and "duplicate name" in said.stderr  # kubectl refuses it
    ours = run_cli("create", "bob", *EC, *live_cluster.ca_args, "--kubeconfig", twice)
    assert ours.returncode == 2 and "two contexts are named" in ours.stderr, ours.stderr
    assert not Path("clients/bob").exists()
