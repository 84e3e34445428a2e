"""Where the new kubeconfig's cluster comes from: the admin's kubeconfig, read as kubectl reads it."""

import base64
import os

import pytest
import yaml

from helpers import SERVER, run_cli, run_here


def admin_kubeconfig(path, clusters, contexts, current=None, users=("admin",)):
    """clusters: {name: cluster-dict}; contexts: {name: cluster-name}."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": u, "user": {"token": "not-used"}} for u in users],
        "contexts": [
            {"name": n, "context": {"cluster": c, "user": users[0]}} for n, c in contexts.items()
        ],
    }
    if current:
        config["current-context"] = current
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def b64(path):
    return base64.b64encode(open(path, "rb").read()).decode()


def create_args(ca, *args):
    return [
        "create",
        "alice",
        "dev",
        "--key-type",
        "ecdsa",
        "--ca-cert",
        ca.cert_path,
        "--ca-key",
        ca.key_path,
        *args,
    ]


def create(capsys, ca, *args):
    """create in this process (HOME is the test's; ~/.kube/config is read when it runs)."""
    return run_here(capsys, *create_args(ca, *args))


def written(isolated):
    return yaml.safe_load((isolated / "clients/alice/kubeconfig").read_text())


def test_split_ca_kubeconfig_carries_the_server_ca(signing_ca, server_ca, isolated, capsys):
    admin_kubeconfig(
        isolated.parent / "home/.kube/config",
        {
            "k3s": {
                "server": "https://10.0.0.1:6443",
                "certificate-authority-data": b64(server_ca.cert_path),
                "tls-server-name": "kubernetes",
            }
        },
        {"default": "k3s"},
        current="default",
    )
    result = create(capsys, signing_ca)
    assert result.returncode == 0, result.stderr
    config = written(isolated)
    cluster = config["clusters"][0]
    assert cluster["name"] == "k3s"
    assert cluster["cluster"]["server"] == "https://10.0.0.1:6443"
    assert cluster["cluster"]["tls-server-name"] == "kubernetes"
    assert (
        base64.b64decode(cluster["cluster"]["certificate-authority-data"])
        == open(server_ca.cert_path, "rb").read()
    )
    assert config["current-context"] == "alice@k3s"


def test_relative_ca_path_resolves_against_the_kubeconfig_folder(
    signing_ca, server_ca, isolated, tmp_path, capsys
):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "ca.crt").write_bytes(open(server_ca.cert_path, "rb").read())
    path = admin_kubeconfig(
        folder / "admin.conf",
        {"c": {"server": SERVER, "certificate-authority": "ca.crt"}},
        {"ctx": "c"},
        current="ctx",
    )
    result = create(capsys, signing_ca, "--kubeconfig", path)
    assert result.returncode == 0, result.stderr
    data = written(isolated)["clusters"][0]["cluster"]["certificate-authority-data"]
    assert base64.b64decode(data) == open(server_ca.cert_path, "rb").read()


def test_kubeconfig_env_with_two_files_first_definition_wins(
    signing_ca, server_ca, isolated, tmp_path
):
    first = admin_kubeconfig(
        tmp_path / "one",
        {"shared": {"server": "https://first:6443"}},
        {"ctx1": "shared"},
        current="ctx1",
    )
    second = admin_kubeconfig(
        tmp_path / "two",
        {"shared": {"server": "https://second:6443"}, "other": {"server": "https://other:6443"}},
        {"ctx2": "other"},
        current="ctx2",
    )
    env = dict(
        os.environ, KUBECONFIG=f"{first}:{tmp_path / 'missing'}:{second}"
    )  # as a shell hands it on
    result = run_cli(*create_args(signing_ca), env=env)
    assert result.returncode == 0, result.stderr
    assert written(isolated)["clusters"][0]["cluster"]["server"] == "https://first:6443"
    result = run_cli(*create_args(signing_ca, "--context", "ctx2", "--force"), env=env)
    assert result.returncode == 0, result.stderr
    assert written(isolated)["clusters"][0]["name"] == "other"


def test_context_cluster_and_server_switches(signing_ca, isolated, tmp_path, capsys):
    path = admin_kubeconfig(
        tmp_path / "cfg",
        {"a": {"server": "https://a:6443"}, "b": {"server": "https://b:6443"}},
        {"ctx-a": "a", "ctx-b": "b"},
        current="ctx-a",
    )
    assert create(capsys, signing_ca, "--kubeconfig", path, "--context", "ctx-b").returncode == 0
    assert written(isolated)["clusters"][0]["cluster"]["server"] == "https://b:6443"
    assert (
        create(capsys, signing_ca, "--kubeconfig", path, "--cluster", "a", "--force").returncode
        == 0
    )
    assert written(isolated)["clusters"][0]["cluster"]["server"] == "https://a:6443"
    assert (
        create(
            capsys, signing_ca, "--kubeconfig", path, "--server", "https://lb:443", "--force"
        ).returncode
        == 0
    )
    cluster = written(isolated)["clusters"][0]
    assert (cluster["name"], cluster["cluster"]["server"]) == ("a", "https://lb:443")


def test_insecure_cluster_is_carried_with_a_warning(signing_ca, isolated, tmp_path, capsys):
    path = admin_kubeconfig(
        tmp_path / "cfg",
        {"dev": {"server": SERVER, "insecure-skip-tls-verify": True}},
        {"dev": "dev"},
        current="dev",
    )
    result = create(capsys, signing_ca, "--kubeconfig", path)
    assert result.returncode == 0
    assert "insecure-skip-tls-verify" in result.stderr
    assert written(isolated)["clusters"][0]["cluster"]["insecure-skip-tls-verify"] is True


def test_no_kubeconfig_needs_server(signing_ca, isolated, capsys):
    result = create(capsys, signing_ca)
    assert result.returncode == 2
    assert "--server" in result.stderr
    assert not (isolated / "clients").exists()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--context", "nope"], 'context "nope" not found'),
        (["--cluster", "nope"], 'cluster "nope" not found'),
    ],
)
def test_unknown_names_are_errors(signing_ca, isolated, tmp_path, args, needle, capsys):
    path = admin_kubeconfig(
        tmp_path / "cfg", {"a": {"server": SERVER}}, {"ctx": "a"}, current="ctx"
    )
    result = create(capsys, signing_ca, "--kubeconfig", path, *args)
    assert result.returncode == 2
    assert needle in result.stderr and "hint:" in result.stderr
    assert not (isolated / "clients").exists()


def test_malformed_and_missing_kubeconfig(signing_ca, isolated, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.write_text("clusters: [\n  - {name: x\n")
    result = create(capsys, signing_ca, "--kubeconfig", bad)
    assert result.returncode == 2 and "not valid YAML" in result.stderr
    result = create(capsys, signing_ca, "--kubeconfig", tmp_path / "absent")
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert not (isolated / "clients").exists()
