"""The person's side without a cluster: `request` (a key in their store, the request), `import`
(checked against the store, merged into their kubeconfig), and how both stand up to hostile input:
a store or kubeconfig another user can write, a bundle for someone else's key or with more groups
than asked, a kubeconfig that is a link, an interrupt while the kubeconfig is written."""

import base64
import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

import schema
from helpers import EC, LAUNCHER, SERVER, ca_args, run_here

STORE = Path(".local/share/kubectl-usercert")
OTHER = """\
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: 'https://10.9.8.7:6443', insecure-skip-tls-verify: true}
users:
- name: me
  user: {token: abc}
contexts:
- name: lab
  context: {cluster: lab, user: me}
current-context: lab
"""


def home():
    return Path(os.environ["HOME"])


def store():
    return home() / STORE


def kubeconfig():
    return home() / ".kube" / "config"


def own_kubeconfig(text=OTHER):
    kubeconfig().parent.mkdir(exist_ok=True)
    kubeconfig().write_text(text)
    kubeconfig().chmod(0o600)


def request(capsys, user="bob", *args):
    result = run_here(capsys, "request", user, *args, *EC)
    assert result.returncode == 0, result.stderr
    return result


def sign(capsys, signing_ca, user="bob", *groups, out="admin"):
    """The admin's sign, as if on another machine: none of the person's kubeconfig is read."""
    os.environ["KUBECONFIG"] = os.devnull + "-none"
    try:
        result = _sign(capsys, signing_ca, user, groups, out)
    finally:
        del os.environ["KUBECONFIG"]
    assert result.returncode == 0, result.stderr
    return Path(out) / user / "kubeconfig"


def _sign(capsys, signing_ca, user, groups, out):
    return run_here(
        capsys,
        "sign",
        "--csr",
        f"{user}.csr",
        "--user",
        user,
        *[arg for group in groups for arg in ("-g", group)],
        *ca_args(signing_ca),
        "--server",
        SERVER,
        "--out-dir",
        out,
    )


def bundle_with(path, cert_pem, key_pem=None, **user_fields):
    """A bundle like `sign` writes (cluster, user, context), holding `cert_pem` (and a key)."""
    user = {"client-certificate-data": base64.b64encode(cert_pem).decode(), **user_fields}
    if key_pem:
        user["client-key-data"] = base64.b64encode(key_pem).decode()
    Path(path).write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kubernetes", "cluster": {"server": SERVER}}],
                "users": [{"name": "bob", "user": user}],
                "contexts": [
                    {"name": "bob@kubernetes", "context": {"cluster": "kubernetes", "user": "bob"}}
                ],
                "current-context": "bob@kubernetes",
            }
        )
    )
    return path


def certificate_for(csr_path, ca, cn, orgs, *, eku=(x509.ExtendedKeyUsageOID.CLIENT_AUTH,), days=1):
    """A certificate for the key of a request, made by `ca` with cryptography (not this tool)."""
    csr = x509.load_pem_x509_csr(Path(csr_path).read_bytes())
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(names + [x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca.cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5, days=max(0, -days) * 2))
        .not_valid_after(now + datetime.timedelta(days=days))
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


# --- request ---------------------------------------------------------------------------------


def test_request_keeps_the_key_in_the_store_and_writes_only_the_request(capsys, isolated):
    os.umask(0o000)  # whatever the umask
    try:
        result = run_here(capsys, "request", "bob", "dev", "-g", "ops", *EC, "-o", "json")
    finally:
        os.umask(0o022)
    assert result.returncode == 0, result.stderr
    obj = json.loads(result.stdout)
    schema.check(obj)
    assert obj["spec"] == {
        "user": "bob",
        "groups": ["dev", "ops"],
        "keyType": "ECDSA",
        "keySize": 256,
    }
    [key] = (store() / "keys").iterdir()
    assert key.name == obj["status"]["keyFingerprintSHA256"] + ".key"
    assert key.stat().st_mode & 0o777 == 0o600
    for folder in ("keys", "requests", "credentials"):
        assert (store() / folder).stat().st_mode & 0o777 == 0o700
    csr = x509.load_pem_x509_csr((isolated / "bob.csr").read_bytes())
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    assert csr.is_signature_valid and csr.public_key() == private.public_key()
    assert csr.subject.rfc4514_string() == "CN=bob,O=ops,O=dev"
    spki = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert obj["status"]["keyFingerprintSHA256"] == __import__("hashlib").sha256(spki).hexdigest()
    assert obj["status"]["request"] == (isolated / "bob.csr").read_text()
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    record = json.loads((store() / "requests" / (key.stem + ".json")).read_text())
    assert (record["user"], record["groups"]) == ("bob", ["dev", "ops"])
    assert (
        obj["status"]["signCommand"]
        == "kubectl usercert sign --csr bob.csr --user bob -g dev -g ops"
    )


def test_request_to_stdout_and_its_refusals(capsys, isolated):
    out = run_here(capsys, "request", "bob", *EC, "--request-file", "-")
    assert out.returncode == 0 and out.stdout.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert not (isolated / "bob.csr").exists()
    both = run_here(capsys, "request", "bob", *EC, "--request-file", "-", "-o", "json")
    assert both.returncode == 2 and "both write to stdout" in both.stderr
    request(capsys)
    again = run_here(capsys, "request", "bob", *EC)
    assert again.returncode == 3 and "--force" in again.stderr
    assert len(list((store() / "keys").iterdir())) == 2  # (the stdout one and bob.csr's)
    bad = run_here(capsys, "request", "eve/O=system:masters", "system:masters", *EC)
    assert bad.returncode == 2 and "hint:" in bad.stderr
    assert len(list((store() / "keys").iterdir())) == 2


def test_a_store_another_user_can_write_is_refused(capsys, isolated):
    request(capsys)
    os.chmod(store(), 0o777)
    result = run_here(capsys, "request", "bob", *EC, "--force")
    assert result.returncode == 2 and "writable by its group and others" in result.stderr
    assert "chmod go-w" in result.stderr
    os.chmod(store(), 0o755)  # (install.sh's folder may be 0755: readable is fine)
    os.chmod(store() / "keys", 0o750)
    result = run_here(capsys, "request", "bob", *EC, "--force")
    assert result.returncode == 2 and "keys" in result.stderr and "chmod go-rwx" in result.stderr


def test_a_link_in_the_store_is_never_followed(capsys, isolated, tmp_path):
    request(capsys)
    elsewhere = tmp_path / "elsewhere"
    (store() / "keys").rename(elsewhere)
    (store() / "keys").symlink_to(elsewhere)
    result = run_here(capsys, "request", "bob", *EC, "--force")
    assert result.returncode == 2 and "symbolic link" in result.stderr


# --- import ----------------------------------------------------------------------------------


def test_import_merges_one_context_and_keeps_every_other_entry(capsys, isolated, signing_ca):
    own_kubeconfig()
    before = yaml.safe_load(kubeconfig().read_text())
    request(capsys, "bob", "dev")
    bundle = sign(capsys, signing_ca, "bob", "dev")
    result = run_here(capsys, "import", bundle, "-o", "json")
    assert result.returncode == 0, result.stderr
    schema.check(json.loads(result.stdout))
    after = yaml.safe_load(kubeconfig().read_text())
    assert json.loads(result.stdout)["status"]["context"] == "bob@kubernetes"
    for kind in ("clusters", "users", "contexts"):
        assert after[kind][: len(before[kind])] == before[kind]
    assert after["current-context"] == "lab"  # (no --set-current)
    assert kubeconfig().stat().st_mode & 0o777 == 0o600
    user = next(u["user"] for u in after["users"] if u["name"] == "bob@kubernetes")
    key = serialization.load_pem_private_key(base64.b64decode(user["client-key-data"]), None)
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    assert cert.public_key() == key.public_key()
    # Importing the same bundle again changes nothing; a different one of the same name is refused.
    assert run_here(capsys, "import", bundle).returncode == 0
    assert yaml.safe_load(kubeconfig().read_text()) == after
    request(capsys, "bob", "dev", "--force")
    newer = sign(capsys, signing_ca, "bob", "dev", out="admin2")
    refused = run_here(capsys, "import", newer)
    assert refused.returncode == 3 and 'user named "bob@kubernetes"' in refused.stderr
    assert yaml.safe_load(kubeconfig().read_text()) == after
    forced = run_here(capsys, "import", newer, "--force", "--set-current", "-o", "json")
    assert forced.returncode == 0, forced.stderr
    backup = Path(json.loads(forced.stdout)["status"]["backup"])
    assert yaml.safe_load(backup.read_text()) == after and backup.stat().st_mode & 0o777 == 0o600
    assert yaml.safe_load(kubeconfig().read_text())["current-context"] == "bob@kubernetes"


def test_a_bundle_for_someone_elses_key_is_refused(capsys, isolated, signing_ca, tmp_path):
    own_kubeconfig()
    request(capsys, "bob", "dev")
    bundle = sign(capsys, signing_ca, "bob", "dev")
    os.environ["XDG_DATA_HOME"] = str(tmp_path / "alice-data")  # alice's store: another person
    try:
        result = run_here(capsys, "import", bundle)
    finally:
        del os.environ["XDG_DATA_HOME"]
    assert result.returncode == 2 and "for a key this store does not hold" in result.stderr
    assert kubeconfig().read_text() == OTHER


@pytest.mark.parametrize(
    "cn, orgs, eku, days, said",
    [
        ("bob", ["dev", "admins"], True, 1, "names groups that were not requested: admins"),
        ("bob", [], True, 1, "lacks groups that were requested: dev"),
        ("alice", ["dev"], True, 1, "is for user 'alice'"),
        ("bob", ["dev"], False, 1, "not for client authentication"),
        ("bob", ["dev"], True, -1, "is not valid now"),
    ],
)
def test_a_certificate_that_is_not_what_was_asked_is_refused(
    capsys, isolated, signing_ca, tmp_path, cn, orgs, eku, days, said
):
    own_kubeconfig()
    request(capsys, "bob", "dev")
    usage = (
        (x509.ExtendedKeyUsageOID.CLIENT_AUTH,) if eku else (x509.ExtendedKeyUsageOID.SERVER_AUTH,)
    )
    cert = certificate_for(isolated / "bob.csr", signing_ca, cn, orgs, eku=usage, days=days)
    result = run_here(capsys, "import", bundle_with(tmp_path / "bundle", cert))
    assert result.returncode == 2 and said in result.stderr and "hint:" in result.stderr
    assert kubeconfig().read_text() == OTHER
    assert list((store() / "credentials").iterdir()) == []


@pytest.mark.parametrize(
    "extra, said",
    [
        ({"token": "stolen"}, "holds token"),
        ({"exec": {"command": "sh"}}, "holds exec"),
        ({"client-key": "/etc/shadow"}, "holds client-key"),
    ],
)
def test_a_bundle_carries_a_certificate_and_nothing_else(
    capsys, isolated, signing_ca, tmp_path, extra, said
):
    own_kubeconfig()
    request(capsys, "bob", "dev")
    cert = certificate_for(isolated / "bob.csr", signing_ca, "bob", ["dev"])
    result = run_here(capsys, "import", bundle_with(tmp_path / "bundle", cert, **extra))
    assert result.returncode == 2 and said in result.stderr
    assert kubeconfig().read_text() == OTHER


def test_a_kubeconfig_create_made_imports_with_a_warning(capsys, isolated, signing_ca):
    made = run_here(
        capsys,
        "create",
        "carol",
        "dev",
        *EC,
        *ca_args(signing_ca),
        "--server",
        SERVER,
        "--out-dir",
        "admin",
    )
    assert made.returncode == 0, made.stderr
    own_kubeconfig()  # (after create: the admin's machine has none)
    result = run_here(capsys, "import", "admin/carol/kubeconfig", "-o", "json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)["status"]
    assert status["keyMadeElsewhere"] is True and "made elsewhere" in result.stderr
    stored = (store() / "keys" / (status["keyFingerprintSHA256"] + ".key")).read_bytes()
    assert stored == Path("admin/carol/carol.key").read_bytes()


def test_import_writes_where_kubectl_writes(capsys, isolated, signing_ca, tmp_path):
    """KUBECONFIG=a:b with only b there: kubectl writes to b; --kubeconfig names the file."""
    request(capsys, "bob", "dev")
    bundle = sign(capsys, signing_ca, "bob", "dev")
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    second.write_text(OTHER)
    second.chmod(0o600)
    os.environ["KUBECONFIG"] = f"{first}{os.pathsep}{second}"
    try:
        assert run_here(capsys, "import", bundle).returncode == 0
    finally:
        del os.environ["KUBECONFIG"]
    assert not first.exists() and "bob@kubernetes" in second.read_text()
    named = tmp_path / "named" / "config"
    assert run_here(capsys, "import", bundle, "--kubeconfig", named).returncode == 0
    assert named.stat().st_mode & 0o777 == 0o600 and named.parent.stat().st_mode & 0o777 == 0o700


def test_a_kubeconfig_others_can_write_is_refused(capsys, isolated, signing_ca):
    own_kubeconfig()
    request(capsys, "bob", "dev")
    bundle = sign(capsys, signing_ca, "bob", "dev")
    kubeconfig().chmod(0o666)
    result = run_here(capsys, "import", bundle)
    assert result.returncode == 2 and "writable by its group and others" in result.stderr
    kubeconfig().chmod(0o600)
    kubeconfig().parent.chmod(0o777)
    result = run_here(capsys, "import", bundle)
    assert result.returncode == 2 and "the folder of the kubeconfig" in result.stderr
    kubeconfig().parent.chmod(0o1777)  # sticky, as /tmp: nobody else can rename or remove it
    assert run_here(capsys, "import", bundle).returncode == 0


def test_a_kubeconfig_that_is_a_link(capsys, isolated, signing_ca, tmp_path):
    own_kubeconfig()
    request(capsys, "bob", "dev")
    bundle = sign(capsys, signing_ca, "bob", "dev")
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir(mode=0o700)
    kubeconfig().rename(dotfiles / "kubeconfig")
    kubeconfig().symlink_to(dotfiles / "kubeconfig")
    assert run_here(capsys, "import", bundle).returncode == 0
    assert kubeconfig().is_symlink() and "bob@kubernetes" in (dotfiles / "kubeconfig").read_text()
    # A link to a file of another user's is refused, and so is a dangling one.
    if os.geteuid() == 0:
        os.chown(dotfiles / "kubeconfig", 65534, 65534)
        result = run_here(capsys, "import", bundle, "--force")
        assert result.returncode == 2 and "owned by" in result.stderr
    kubeconfig().unlink()
    kubeconfig().symlink_to(tmp_path / "nowhere")
    result = run_here(capsys, "import", bundle)
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_import_reads_a_bundle_on_stdin(isolated, signing_ca, capsys):
    own_kubeconfig()
    request(capsys, "bob", "dev")
    bundle = sign(capsys, signing_ca, "bob", "dev")
    done = subprocess.run(
        [sys.executable, str(LAUNCHER), "import", "-"],
        stdin=open(bundle, "rb"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "bob@kubernetes" in kubeconfig().read_text()


def test_an_interrupted_import_leaves_the_kubeconfig_old_or_new(isolated, signing_ca, capsys):
    """SIGTERM at every moment of an import: the kubeconfig is the old one or the new one, whole,
    and nothing is left beside it (no temporary file, no lock)."""
    own_kubeconfig()
    request(capsys, "bob", "dev")
    bundle = sign(capsys, signing_ca, "bob", "dev")
    seen = set()
    whole = (
        None  # how long an import takes here, now: the sweep covers it whatever the machine's load
    )
    for attempt in range(25):
        own_kubeconfig()
        started = time.monotonic()
        importing = subprocess.Popen(
            [sys.executable, str(LAUNCHER), "import", str(bundle)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        if whole is not None:  # the first import runs to its end
            time.sleep(0.02 + whole * attempt / 24)
            importing.send_signal(signal.SIGTERM)
        _, err = importing.communicate(timeout=60)
        whole = whole or time.monotonic() - started
        text = kubeconfig().read_text()
        names = [c["name"] for c in yaml.safe_load(text)["contexts"]]
        assert names in (["lab"], ["lab", "bob@kubernetes"]), text
        assert sorted(p.name for p in kubeconfig().parent.iterdir()) == ["config"]
        # (-15: the signal came before Python's handler was set, or after the run, as it exited)
        assert importing.returncode in (0, 143, -signal.SIGTERM), err
        seen.add((importing.returncode, len(names)))
        if importing.returncode == 143:  # the message says what was done, and nothing else
            assert (b"nothing was written" in err) == (len(names) == 1), err
    assert {(143, 1), (0, 2)} <= seen  # (interrupted before the write, and done, at least once)


# --- renew --self, refused without a cluster ---------------------------------------------------


def test_renew_self_needs_a_credential_of_the_store(capsys, isolated):
    own_kubeconfig()
    result = run_here(capsys, "renew", "--self")
    assert (
        result.returncode == 2
        and 'user "me" of context "lab" is not in your store' in result.stderr
    )
    admins = run_here(capsys, "renew", "bob", "--self")
    assert admins.returncode == 2 and "USER is for the admin's renew" in admins.stderr
    none = run_here(capsys, "renew")
    assert none.returncode == 2 and "accepts 1 arg(s), received 0" in none.stderr


def test_an_expired_credential_cannot_renew_itself(capsys, isolated, signing_ca, tmp_path):
    own_kubeconfig()
    request(capsys, "bob", "dev")
    cert = certificate_for(isolated / "bob.csr", signing_ca, "bob", ["dev"], days=1)
    assert (
        run_here(capsys, "import", bundle_with(tmp_path / "b", cert), "--set-current").returncode
        == 0
    )
    state = store() / "credentials" / "bob@kubernetes" / "state.json"
    expired = certificate_for(isolated / "bob.csr", signing_ca, "bob", ["dev"], days=-1)
    recorded = json.loads(state.read_text())
    recorded["certificate"] = expired.decode()  # as if a day had passed (the kubeconfig the same)
    state.write_text(json.dumps(recorded))
    config = yaml.safe_load(kubeconfig().read_text())
    next(u for u in config["users"] if u["name"] == "bob@kubernetes")["user"][
        "client-certificate-data"
    ] = base64.b64encode(expired).decode()
    kubeconfig().write_text(yaml.safe_dump(config))
    result = run_here(capsys, "renew", "--self")
    assert result.returncode == 1 and "cannot renew itself" in result.stderr
    assert "kubectl usercert request bob" in result.stderr
