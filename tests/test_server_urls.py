"""Server and proxy URLs as kubectl reads them, and no admin's password in what users get (issue 18,
item 3). Real kubectl is the oracle: what it cannot use is refused, what it can use is kept."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import default_kubectl
from helpers import EC, SERVER, ca_args, run_cli, run_here, tree, whoami
from kubectl_usercert.cluster import urls

SECRET = "S3cret-pa55"
# Loopback, port 1 (nothing listens): kubectl either fails to connect (it took the URL) or refuses it.
UNUSABLE = [
    "https://[::1",
    "https://127.0.0.1:1\n",
    "https://127.0.0.1:1\t",
    "https://127.0.0.1\x00:1",
    " https://127.0.0.1:1",
    "https://127.0.0.1:1 ",
    "ftp://127.0.0.1:1",
    "unix:///var/run/k8s.sock",
    "https://127.0.0.1:x",
    "https://127.0.0.1 :1",
    "https://127.0.0.1:99999",
    "127.0.0.1:1/prefix",
    "https://127.0.0.1:1/%zz",
    "https:127.0.0.1:1",
    "https://",
    "https://a\\b:1",
]
USABLE = [
    "https://127.0.0.1:1",
    "HTTPS://127.0.0.1:1",
    "https://[::1]:1",
    "http://127.0.0.1:1",
    "https://127.0.0.1:1/prefix",
    "https://127.0.0.1:1/",
    "https://127.0.0.1",
    "https://127.0.0.1:1?x=1",
]


def refused(result, needle, code=2):
    assert result.returncode == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and needle in errors[0], result.stderr
    assert "hint: " in result.stderr and "Traceback" not in result.stderr


def admin_kubeconfig(path, **cluster):
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "ctx",
        "clusters": [{"name": "c", "cluster": {"server": SERVER, **cluster}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "admin"}}],
        "users": [{"name": "admin", "user": {"token": "x"}}],
    }
    Path(path).write_text(json.dumps(config))  # JSON is YAML: any character survives as it is
    return path


def kubectl_takes(server, tmp_path, **cluster):
    """Whether real kubectl uses `server` (it tries to connect) or refuses it before connecting."""
    config = admin_kubeconfig(
        tmp_path / "probe.conf", **{"insecure-skip-tls-verify": True, **cluster}
    )
    document = json.loads(Path(config).read_text())
    document["clusters"][0]["cluster"]["server"] = server
    Path(config).write_text(json.dumps(document))
    result = subprocess.run(
        [
            default_kubectl(),
            "--kubeconfig",
            str(config),
            "get",
            "--raw",
            "/version",
            "--request-timeout=3s",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return "refused" in result.stderr or "connect: connection refused" in result.stderr


@pytest.mark.parametrize("server", UNUSABLE + USABLE)
def test_a_server_is_refused_exactly_when_kubectl_cannot_use_it(server, tmp_path):
    assert (urls.server_problem(server) is None) == kubectl_takes(server, tmp_path)


@pytest.mark.parametrize(
    "proxy",
    [
        "ftp://127.0.0.1:3128",
        "127.0.0.1:3128",
        "http://[::1",
        "http://127.0.0.1:x",
        "http://127.0.0.1:3128\n",
        "socks5h://127.0.0.1:1080",
        "http://127.0.0.1:3128",
        "socks5://127.0.0.1:1080",
        "HTTPS://127.0.0.1:3128",
    ],
)
def test_a_proxy_is_refused_exactly_when_kubectl_refuses_it(proxy, tmp_path):
    accepted = kubectl_takes("https://127.0.0.1:1", tmp_path, **{"proxy-url": proxy})
    assert (urls.proxy_problem(proxy) is None) == accepted


@pytest.mark.parametrize("server", UNUSABLE)
def test_an_unusable_server_is_one_line_from_the_flag_or_the_kubeconfig(
    capsys, signing_ca, isolated, server
):
    result = run_here(capsys, "create", "alice", *EC, *ca_args(signing_ca), "--server", server)
    refused(result, "--server")
    assert tree(isolated) == []
    admin_kubeconfig("admin.conf")
    document = json.loads(Path("admin.conf").read_text())
    document["clusters"][0]["cluster"]["server"] = server
    Path("admin.conf").write_text(json.dumps(document))
    result = run_here(
        capsys, "create", "alice", *EC, *ca_args(signing_ca), "--kubeconfig", "admin.conf"
    )
    assert result.returncode == 2 and 'admin.conf (cluster "c")' in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and tree(isolated) == ["admin.conf"]


@pytest.mark.cost(5)
def test_a_server_without_a_scheme_is_refused_as_kubectl_speaks_http_to_it(
    live_cluster, isolated, tmp_path, capsys
):
    bare = live_cluster.server.url.split("://", 1)[1]  # 127.0.0.1:PORT
    config = yaml.safe_load(live_cluster.admin_kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = bare
    (tmp_path / "bare.conf").write_text(yaml.safe_dump(config))
    told = live_cluster.kubectl(tmp_path / "bare.conf", "get", "--raw", "/version")
    assert told.returncode != 0 and "connection reset" in told.stderr  # plain http to a TLS server
    refused(
        run_here(capsys, "create", "alice", *EC, *live_cluster.ca_args, "--server", bare),
        "kubectl would speak plain http to it",
    )
    refused(
        run_here(
            capsys,
            "create",
            "alice",
            *EC,
            *live_cluster.ca_args,
            "--kubeconfig",
            tmp_path / "bare.conf",
        ),
        f"write https://{bare}",
    )
    assert (
        run_here(
            capsys, "create", "alice", *EC, *live_cluster.ca_args, "--server", f"https://{bare}"
        ).returncode
        == 0
    )
    assert whoami(live_cluster, "clients/alice/kubeconfig")["username"] == "alice"


def _everything_written(root, but=("admin.conf",)):
    found = []
    for path in Path(root).rglob("*"):
        if path.is_file() and path.name not in but:
            found.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(found)


@pytest.mark.parametrize(
    "where", ["--server", "server", "proxy-url", "server-without-scheme", "user-only"]
)
def test_an_admins_password_never_travels(signing_ca, isolated, tmp_path, where):
    secret_url = {
        "--server": f"https://admin:{SECRET}@127.0.0.1:6443",
        "server": f"https://admin:{SECRET}@127.0.0.1:6443",
        "proxy-url": f"http://proxyuser:{SECRET}@127.0.0.1:3128",
        "server-without-scheme": f"admin:{SECRET}@127.0.0.1:6443",
        "user-only": f"https://{SECRET}@127.0.0.1:6443",
    }[where]
    cluster = {"proxy-url": secret_url} if where == "proxy-url" else {"server": secret_url}
    admin_kubeconfig("admin.conf", **({} if where == "--server" else cluster))
    flags = ["--kubeconfig", "admin.conf"] + (
        ["--server", secret_url] if where == "--server" else []
    )
    Path("team.yaml").write_text(
        "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nmetadata: {name: t}\n"
        "spec:\n  defaults: {keyType: ecdsa}\n  users: [{name: bob}]\n"
    )
    fake = (
        tmp_path / "bin" / "kubectl"
    )  # a cluster with no bindings yet, so apply goes as far as issuing
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho '{\"items\": []}'\n")
    fake.chmod(0o755)
    env = dict(os.environ, USERCERT_KUBECTL=str(fake))
    said = ""
    for args in (
        ["create", "alice", *EC, *ca_args(signing_ca), *flags, "-o", "json"],
        ["create", "alice", *EC, *ca_args(signing_ca), *flags],
        ["apply", "-f", "team.yaml", *ca_args(signing_ca), *flags, "-o", "json"],
        ["list", "-o", "json"],
        ["list"],
    ):
        result = run_cli(*args, env=env)
        said += result.stdout + result.stderr
        if args[0] == "create":
            assert result.returncode == 2 and "holds credentials" in result.stderr, result.stderr
        if args[0] == "apply":
            assert result.returncode != 0 and "holds credentials" in result.stdout + result.stderr
    assert SECRET not in said
    assert SECRET not in _everything_written(isolated)
    assert not os.path.exists("clients/alice") and not os.path.exists("clients/bob")


def test_a_server_with_credentials_in_the_kubeconfig_is_fine_when_server_replaces_it(
    capsys, signing_ca, isolated
):
    admin_kubeconfig("admin.conf", server=f"https://admin:{SECRET}@127.0.0.1:6443")
    result = run_here(
        capsys,
        "create",
        "alice",
        *EC,
        *ca_args(signing_ca),
        "--kubeconfig",
        "admin.conf",
        "--server",
        SERVER,
    )
    assert result.returncode == 0, result.stderr
    written = yaml.safe_load(Path("clients/alice/kubeconfig").read_text())
    assert written["clusters"][0]["cluster"]["server"] == SERVER
    assert SECRET not in _everything_written(isolated) + result.stdout + result.stderr
