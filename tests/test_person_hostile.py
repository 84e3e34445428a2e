"""The person's side attacked: what a hostile bundle, a second kubeconfig file, a shared folder, a
full disk or the person's own kubectl running meanwhile must not do to their kubeconfig and store."""

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import EC, SERVER, run_here
from person_homes import admin_machine, person_machine
from test_person import (
    OTHER,
    bundle_with,
    certificate_for,
    kubeconfig,
    own_kubeconfig,
    request,
    sign,
    store,
)
from test_person_round_trip import (
    CSR,
    _issued,
    _renewal_name,
    grant,
    may_file_requests,
    self_renewal_rules,
)


@pytest.fixture
def machines(live_cluster, tmp_path, isolated):
    live_cluster.server.sign_csrs_with(live_cluster.client_ca.cert, live_cluster.client_ca.key)
    return admin_machine(isolated), person_machine(tmp_path / "person")


def _approved_after(cluster, admin, person, process):
    """Once `process` (the person's run) has filed its request, the person changes their kubeconfig
    with kubectl (as they may in another terminal while it waits), then the admin approves."""
    filed = lambda: next(iter(cluster.server.list(*CSR)), None)  # noqa: E731
    for _ in range(120):
        assert process.poll() is None, process.communicate()
        try:
            csr = cluster.server.wait_for(filed, timeout=1, what="a request")
            break
        except TimeoutError:
            continue
    _meanwhile(person)
    approved = admin.kubectl("certificate", "approve", csr["metadata"]["name"])
    if approved.returncode != 0:  # (what the person's run said, too)
        process.kill()
        assert approved.returncode == 0, (approved.stderr, process.communicate())


def _meanwhile(person):
    """What the person does with kubectl while a run of theirs waits for approval."""
    for args in (
        ("config", "set-context", "elsewhere", "--namespace", "changed-meanwhile"),
        ("config", "use-context", "sso@elsewhere"),
    ):
        done = person.kubectl(*args)
        assert done.returncode == 0, done.stderr


def _kept_meanwhile(config):
    contexts = {c["name"]: c["context"] for c in config["contexts"]}
    return (config["current-context"], contexts["elsewhere"].get("namespace"))


def test_renew_self_keeps_what_kubectl_changed_while_it_waited(live_cluster, machines):
    admin, person = machines
    _issued(live_cluster, admin, person)
    grant(live_cluster, "bob", *self_renewal_rules(_renewal_name("bob")))
    renewing = person.start("renew", "--self", "--context", "bob@test-cluster", "--wait", "90s")
    _approved_after(live_cluster, admin, person, renewing)
    _, err = renewing.communicate(timeout=120)
    assert renewing.returncode == 0, err
    assert _kept_meanwhile(person.config()) == ("sso@elsewhere", "changed-meanwhile")
    assert person.whoami("--context", "bob@test-cluster")["username"] == "bob"


def test_request_submit_keeps_what_kubectl_changed_while_it_waited(live_cluster, machines):
    admin, person = machines
    may_file_requests(live_cluster, person)
    submitting = person.start(
        "request",
        "bob",
        "dev",
        "--key-type",
        "ecdsa",
        "--submit",
        "--context",
        "bootstrap",
        "--expiration",
        "2h",
        "--wait",
        "90s",
        "-o",
        "json",
    )
    _approved_after(live_cluster, admin, person, submitting)
    out, err = submitting.communicate(timeout=120)
    assert submitting.returncode == 0, err
    assert json.loads(out)["status"]["credential"]["status"]["context"] == "bob@test"
    assert _kept_meanwhile(person.config()) == ("sso@elsewhere", "changed-meanwhile")
    assert person.whoami("--context", "bob@test")["username"] == "bob"


# --- KUBECONFIG of several files: kubectl reads them all, the first definition of a name wins -------

SECOND = """\
apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster: {server: 'https://10.9.8.7:6443', insecure-skip-tls-verify: true}
users:
- name: me
  user: {token: abc}
contexts:
- name: work
  context: {cluster: kubernetes, user: me}
current-context: work
"""


def _two_files(monkeypatch, tmp_path, second=SECOND):
    """KUBECONFIG=first:second, the first without a current context or a cluster of its own."""
    first, other = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text("apiVersion: v1\nkind: Config\npreferences: {}\n")
    other.write_text(second)
    for path in (first, other):
        path.chmod(0o600)
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{other}")
    return first, other


def _kubectl(*args):
    done = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _server_of(context):
    view = json.loads(_kubectl("config", "view", "--minify", "--context", context, "-o", "json"))
    return view["clusters"][0]["cluster"]["server"]


def test_an_import_never_takes_the_current_context_another_file_sets(
    capsys, isolated, signing_ca, tmp_path, monkeypatch
):
    request(capsys, "bob", "dev")
    bundle = sign(capsys, signing_ca, "bob", "dev")
    first, _ = _two_files(
        monkeypatch,
        tmp_path,
        SECOND.replace("name: kubernetes", "name: lab").replace(
            "cluster: kubernetes", "cluster: lab"
        ),
    )
    result = run_here(capsys, "import", bundle)
    assert result.returncode == 0, result.stderr
    assert _kubectl("config", "current-context").strip() == "work"
    assert "current-context" not in yaml.safe_load(first.read_text())
    assert _server_of("bob@kubernetes") == SERVER


def test_an_import_never_hides_a_cluster_another_file_defines(
    capsys, isolated, signing_ca, tmp_path, monkeypatch
):
    """The bundle's cluster "kubernetes" added to the first file would win over the second file's,
    and the person's context "work" (a token) would then talk to the bundle's server."""
    request(capsys, "bob", "dev")
    bundle = sign(capsys, signing_ca, "bob", "dev")
    first, second = _two_files(monkeypatch, tmp_path)
    before = first.read_text(), second.read_text()
    refused = run_here(capsys, "import", bundle)
    assert refused.returncode == 3, refused.stderr
    assert f'{second} has another cluster named "kubernetes"' in refused.stderr
    assert "--force" in refused.stderr
    assert (first.read_text(), second.read_text()) == before
    assert _server_of("work") == "https://10.9.8.7:6443"
    assert list((store() / "credentials").iterdir()) == []
    # --force adds it anyway (the first file's definition then wins), keeping a backup.
    forced = run_here(capsys, "import", bundle, "--force", "-o", "json")
    assert forced.returncode == 0, forced.stderr
    backup = json.loads(forced.stdout)["status"]["backup"]
    assert Path(backup).read_text() == before[0] and second.read_text() == before[1]
    assert _server_of("bob@kubernetes") == SERVER


def test_an_identical_cluster_in_another_file_is_reused(
    capsys, isolated, signing_ca, tmp_path, monkeypatch
):
    request(capsys, "bob", "dev")
    bundle = sign(capsys, signing_ca, "bob", "dev")
    cluster = yaml.safe_load(bundle.read_text())["clusters"][0]
    first, second = _two_files(monkeypatch, tmp_path)
    other = yaml.safe_load(second.read_text())
    other["clusters"] = [cluster]
    second.write_text(yaml.safe_dump(other))
    result = run_here(capsys, "import", bundle)
    assert result.returncode == 0, result.stderr
    assert "clusters" not in yaml.safe_load(first.read_text())  # kubectl finds it in the second
    assert _server_of("bob@kubernetes") == SERVER


# --- the store where another user could swap it -------------------------------------------------


def test_a_store_in_a_folder_others_can_write_is_refused(capsys, isolated, tmp_path, monkeypatch):
    """XDG_DATA_HOME in a folder others can write (not sticky): they could rename the store away
    and put theirs in its place between two runs, or during one."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("XDG_DATA_HOME", str(shared))
    result = run_here(capsys, "request", "bob", *EC)
    assert result.returncode == 2, result.stderr
    assert f"{shared} is writable by its group and others" in result.stderr
    assert "hint:" in result.stderr and not (isolated / "bob.csr").exists()
    assert [p.name for p in shared.iterdir()] in ([], ["kubectl-usercert"])
    assert not list(shared.rglob("*.key"))
    shared.chmod(0o1777)  # sticky, as /tmp: nobody else can rename or remove the store in it
    assert run_here(capsys, "request", "bob", *EC).returncode == 0


def test_a_store_that_is_another_users_link_is_refused(capsys, isolated, tmp_path, monkeypatch):
    """In a sticky shared folder, the store a link that another user made (and can point elsewhere
    at any moment) to a folder of the runner's."""
    shared, mine = tmp_path / "shared", tmp_path / "mine"
    shared.mkdir()
    shared.chmod(0o1777)
    mine.mkdir(mode=0o700)
    (shared / "kubectl-usercert").symlink_to(mine)
    os.lchown(shared / "kubectl-usercert", 65534, 65534)
    monkeypatch.setenv("XDG_DATA_HOME", str(shared))
    result = run_here(capsys, "request", "bob", *EC)
    assert result.returncode == 2, result.stderr
    assert "link" in result.stderr and "uid 65534" in result.stderr
    assert list(mine.iterdir()) == []
    os.lchown(shared / "kubectl-usercert", os.geteuid(), os.getegid())  # the runner's own link
    assert run_here(capsys, "request", "bob", *EC).returncode == 0


# --- what a bundle says about its cluster ------------------------------------------------------


def test_a_bundle_that_skips_the_servers_check_is_said_to(capsys, isolated, signing_ca, tmp_path):
    """A bundle travels by mail or chat: one whose cluster has insecure-skip-tls-verify (or no CA)
    lets whoever sits between the person and the server read and answer everything they send."""
    request(capsys, "bob", "dev")
    cert = certificate_for(isolated / "bob.csr", signing_ca, "bob", ["dev"])
    bundle = bundle_with(tmp_path / "bundle", cert)
    document = yaml.safe_load(bundle.read_text())
    document["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    bundle.write_text(yaml.safe_dump(document))
    result = run_here(capsys, "import", bundle, "-o", "json")
    assert result.returncode == 0, result.stderr
    said = 'cluster "kubernetes" of the bundle has insecure-skip-tls-verify'
    assert f"warning: {said}" in result.stderr
    assert any(said in warning for warning in json.loads(result.stdout)["status"]["warnings"])
    del document["clusters"][0]["cluster"]["insecure-skip-tls-verify"]
    bundle.write_text(yaml.safe_dump(document))
    result = run_here(capsys, "import", bundle, "--kubeconfig", tmp_path / "other")
    assert result.returncode == 0, result.stderr
    assert 'warning: cluster "kubernetes" of the bundle names no CA' in result.stderr


# --- never a credential on the terminal --------------------------------------------------------


@pytest.mark.parametrize("field", ["password", "token"])
def test_a_mistyped_secret_in_the_kubeconfig_is_never_shown(
    capsys, isolated, signing_ca, tmp_path, field
):
    """kubectl refuses `password: 12345678` (a number, not a string), and so does this tool; the
    error names the field, never its value."""
    request(capsys, "bob", "dev")
    cert = certificate_for(isolated / "bob.csr", signing_ca, "bob", ["dev"])
    bundle = bundle_with(tmp_path / "bundle", cert)
    own_kubeconfig(OTHER.replace("token: abc", f"username: me, {field}: 12345678"))
    for args in (("import", bundle), ("renew", "--self"), ("request", "bob", "--submit", *EC)):
        result = run_here(capsys, *args)
        assert result.returncode == 2, result.stderr
        assert f"{field} is int" in result.stderr and "12345678" not in result.stderr


# --- a full disk -------------------------------------------------------------------------------


def test_request_force_on_a_full_disk_keeps_the_request_it_would_replace(
    capsys, isolated, monkeypatch
):
    """`request --force` whose new USER.csr cannot be written leaves the old one as it was (and no
    key in the store): a failed run removes only what it made."""
    import errno

    from kubectl_usercert.store import files

    Path("bob.csr").write_text("the request sent yesterday\n")
    replace_file = files.replace_file

    def full_for_requests(path, data, mode=files.PRIVATE_FILE_MODE):
        if str(path).endswith(".csr"):
            raise files.write_error(path, OSError(errno.ENOSPC, "No space left on device"))
        return replace_file(path, data, mode)

    monkeypatch.setattr(files, "replace_file", full_for_requests)
    result = run_here(capsys, "request", "bob", *EC, "--force")
    assert result.returncode == 1 and "the disk is full" in result.stderr
    assert Path("bob.csr").read_text() == "the request sent yesterday\n"
    assert list((store() / "keys").iterdir()) == []


def test_import_on_a_full_disk_leaves_the_kubeconfig_and_the_store_as_they_were(
    capsys, isolated, signing_ca, monkeypatch
):
    import errno

    from kubectl_usercert.store import files

    own_kubeconfig()
    request(capsys, "bob", "dev")
    bundle = sign(capsys, signing_ca, "bob", "dev")
    replace_file = files.replace_file

    def full_for_kubeconfigs(path, data, mode=files.PRIVATE_FILE_MODE):
        if str(path).endswith(os.path.join(".kube", "config")):
            raise files.write_error(path, OSError(errno.ENOSPC, "No space left on device"))
        return replace_file(path, data, mode)

    monkeypatch.setattr(files, "replace_file", full_for_kubeconfigs)
    result = run_here(capsys, "import", bundle)
    assert result.returncode == 1 and "the disk is full" in result.stderr
    assert kubeconfig().read_text() == OTHER
    assert sorted(p.name for p in kubeconfig().parent.iterdir()) == ["config"]
    assert list((store() / "credentials").iterdir()) == []
    assert len(list((store() / "keys").iterdir())) == 1  # (the key of the request, kept)


def test_a_bundle_certificate_is_one_certificate_and_nothing_else(
    capsys, isolated, signing_ca, tmp_path
):
    """A second certificate after the checked one would reach the kubeconfig unchecked (kubectl
    sends it along, as a chain); text around the one certificate is dropped."""
    own_kubeconfig()
    request(capsys, "bob", "dev")
    cert = certificate_for(isolated / "bob.csr", signing_ca, "bob", ["dev"])
    chained = bundle_with(tmp_path / "chained", cert + signing_ca.cert_path.read_bytes())
    refused = run_here(capsys, "import", chained)
    assert refused.returncode == 2 and "holds 2 certificates, not one" in refused.stderr
    assert kubeconfig().read_text() == OTHER
    assert list((store() / "credentials").iterdir()) == []
    wrapped = bundle_with(
        tmp_path / "wrapped", b"Certificate:\n  (its text)\n" + cert + b"trailer\n"
    )
    result = run_here(capsys, "import", wrapped)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(kubeconfig().read_text())
    user = next(u["user"] for u in config["users"] if u["name"] == "bob@kubernetes")
    assert base64.b64decode(user["client-certificate-data"]) == cert
    assert (store() / "credentials" / "bob@kubernetes" / "cert.pem").read_bytes() == cert


def test_force_says_which_other_contexts_a_replaced_cluster_moves(
    capsys, isolated, signing_ca, tmp_path
):
    """A newer bundle needs --force (its user entry differs): one whose cluster is named like one
    of the person's then moves their other contexts of that cluster (a token, say) to its server.
    Done, as asked, but said, with the backup."""
    own_kubeconfig()
    request(capsys, "bob", "dev")
    cert = certificate_for(isolated / "bob.csr", signing_ca, "bob", ["dev"])
    bundle = bundle_with(tmp_path / "bundle", cert)
    document = yaml.safe_load(bundle.read_text())
    document["clusters"][0]["name"] = document["contexts"][0]["context"]["cluster"] = "lab"
    bundle.write_text(yaml.safe_dump(document))
    result = run_here(capsys, "import", bundle, "--force", "-o", "json")
    assert result.returncode == 0, result.stderr
    said = f'cluster "lab" was replaced: context "lab" (user "me") now talks to {SERVER}'
    assert f"warning: {said}" in result.stderr
    assert said in json.loads(result.stdout)["status"]["warnings"][-1]
