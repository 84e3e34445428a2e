"""The output contract: every command's -o json is an object of its kind that validates against the
schema kept in lib/kubectl_usercert/output/schemas/; yaml says the same; -o name and -o jsonpath work as
kubectl's do."""

import json

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jsonschema import Draft202012Validator

import schema
from helpers import EC, SERVER, ca_args, run_cli, run_here


def cli(capsys, *args):
    result = run_here(capsys, *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    obj = json.loads(result.stdout)
    schema.check(obj)
    assert obj["apiVersion"] == "usercert.kubectl.io/v1alpha1"
    return obj


def test_every_local_command_prints_its_kind(capsys, signing_ca, isolated, tmp_path):
    created = cli(capsys, "create", "alice", "dev", *EC, *ca_args(signing_ca), "--server", SERVER)
    assert (created["kind"], created["metadata"]["name"], created["spec"]) == (
        "UserCertificate",
        "alice",
        {"user": "alice", "groups": ["dev"]},
    )
    cert = x509.load_pem_x509_certificate(open(created["status"]["certificate"], "rb").read())
    assert (
        created["status"]["credentialID"] == "X509SHA256=" + cert.fingerprint(hashes.SHA256()).hex()
    )

    renewed = cli(capsys, "renew", "alice", *ca_args(signing_ca))
    assert renewed["status"]["previousSerial"] == created["status"]["serial"]
    inspected = cli(capsys, "inspect", "alice", "--ca-cert", signing_ca.cert_path)
    assert (
        inspected["status"]["serial"] == renewed["status"]["serial"]
        and inspected["status"]["chainValid"] is True
    )

    listed = cli(capsys, "list")
    assert listed["kind"] == "UserCertificateList" and [
        i["metadata"]["name"] for i in listed["items"]
    ] == ["alice"]
    item = listed["items"][0]["status"]
    for field in (
        "credentialID",
        "notBefore",
        "keyType",
        "notAfter",
        "serial",
    ):  # as inspect says them
        assert item[field] == inspected["status"][field], field
    assert item["daysLeft"] == inspected["status"]["daysLeft"] and listed["metadata"]["observedAt"]
    assert (
        item["kubeconfig"] == created["status"]["kubeconfig"] == inspected["status"]["kubeconfig"]
    )

    whois = cli(capsys, "whois", renewed["status"]["credentialID"])
    assert whois["kind"] == "Whois" and [m["event"] for m in whois["status"]["matches"]] == [
        "renewed"
    ]
    assert whois["status"]["matches"][0]["credentialID"] == renewed["status"]["credentialID"]
    for field in ("keyType", "keySize", "notBefore"):  # as inspect says them
        assert whois["status"]["matches"][0][field] == inspected["status"][field], field

    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bob")]))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "bob.csr").write_bytes(request.public_bytes(serialization.Encoding.PEM))
    signed = cli(
        capsys,
        "sign",
        "--csr",
        tmp_path / "bob.csr",
        "--user",
        "bob",
        *ca_args(signing_ca),
        "--server",
        SERVER,
    )
    assert signed["status"]["key"] is None and signed["status"]["ownerInstructions"]

    demo = cli(capsys, "demo", "--dir", tmp_path / "demo")
    assert demo["kind"] == "Demo" and demo["status"]["certificate"]["status"]["chainValid"] is True


def test_the_cluster_commands_print_their_kinds(live_cluster, isolated):
    made = run_cli(
        "create",
        "carol",
        "dev",
        *EC,
        *live_cluster.ca_args,
        "--clusterrole",
        "view",
        "--verify",
        "-o",
        "json",
    )
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    schema.check(created)
    assert created["status"]["verification"]["ok"] is True and [
        b["name"] for b in created["status"]["bindings"]
    ] == ["usercert:carol:view"]
    for args, kind in (
        (["verify", "carol"], "Verification"),
        (["revoke", "carol", "--dry-run"], "Revocation"),
        (["revoke", "carol"], "Revocation"),
        (["list"], "UserCertificateList"),
    ):
        result = run_cli(*args, "-o", "json")
        assert result.returncode == 0, result.stderr
        obj = json.loads(result.stdout)
        schema.check(obj)
        assert obj["kind"] == kind


def test_yaml_name_and_jsonpath(capsys, signing_ca, isolated):
    for user in ("alice", "bob"):
        cli(capsys, "create", user, "dev", *EC, *ca_args(signing_ca), "--server", SERVER)
    as_json = json.loads(run_here(capsys, "list", "-o", "json").stdout)
    as_yaml = yaml.safe_load(run_here(capsys, "list", "-o", "yaml").stdout)
    assert as_yaml == as_json | {
        "metadata": as_yaml["metadata"]
    }  # the same but for when it was observed
    assert (
        run_here(capsys, "list", "-o", "name").stdout
        == "usercertificate.usercert.kubectl.io/alice\nusercertificate.usercert.kubectl.io/bob\n"
    )
    assert (
        run_here(capsys, "inspect", "alice", "-o", "name").stdout
        == "usercertificate.usercert.kubectl.io/alice\n"
    )
    names = run_here(capsys, "list", "-o", "jsonpath={.items[*].metadata.name}").stdout
    assert names == "alice bob"
    lines = run_here(
        capsys,
        "list",
        "-o",
        'jsonpath={range .items[*]}{.spec.user}{"\\t"}{.status.state}{"\\n"}{end}',
    )
    assert (
        lines.stdout == "alice\texpiring\nbob\texpiring\n"
        or lines.stdout == "alice\tvalid\nbob\tvalid\n"
    )
    kubeconfig = run_here(capsys, "inspect", "alice", "-o", "jsonpath={.status.kubeconfig}").stdout
    assert kubeconfig == "clients/alice/kubeconfig"
    # as kubectl: quotes that reach the template are text (a shell that passed them on), a missing key is nothing
    assert run_here(capsys, "inspect", "alice", "-o", "jsonpath='{.spec.user}'").stdout == "'alice'"
    assert run_here(capsys, "inspect", "alice", "-o", "jsonpath={.status.nosuch}").stdout == ""


def _refs(node):
    if isinstance(node, dict):
        yield from ([node["$ref"]] if "$ref" in node else [])
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_schema_names_itself_and_its_refs_resolve():
    """The standard jsonschema package said `Unresolvable: UserCertificate.json`: no schema had an $id."""
    paths = sorted(schema.SCHEMAS.glob("*.json"))
    # Verification/RevocationList: a fleet person's (issue 22); UserCertificateRequest,
    # UserCredential: the person's side (issue 20); Approval: approve (issue 21)
    assert len(paths) == 12
    for path in paths:
        document = json.loads(path.read_text())
        Draft202012Validator.check_schema(document)
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert document["$id"] == f"https://usercert.kubectl.io/schemas/v1alpha1/{path.name}"
        resolver = schema.registry().resolver(base_uri=document["$id"])
        for ref in _refs(document):
            assert resolver.lookup(ref).contents["title"] == ref.removesuffix(".json")


def test_a_wrong_object_is_rejected(capsys, signing_ca, isolated, tmp_path):
    """Validation really runs: through a $ref, formats and additionalProperties included."""
    cli(capsys, "create", "alice", "dev", *EC, *ca_args(signing_ca), "--server", SERVER)
    listed = cli(capsys, "list")
    demo = cli(capsys, "demo", "--dir", tmp_path / "demo")
    for obj, breaks, expected in (
        (listed, lambda o: o["items"][0]["spec"].update(user=5), "5 is not of type 'string'"),
        (
            listed,
            lambda o: o["items"][0]["status"].update(notAfter="next week"),
            "is not a 'date-time'",
        ),
        (listed, lambda o: o["metadata"].update(extra=1), "'extra' was unexpected"),
        (
            demo,
            lambda o: o["status"]["certificate"]["status"].pop("serial"),
            "'serial' is a required property",
        ),
        (demo, lambda o: o.update(kind="Demo2"), "'Demo' was expected"),
    ):
        wrong = json.loads(json.dumps(obj))
        breaks(wrong)
        messages = _messages(schema.validator(obj["kind"]).iter_errors(wrong))
        assert any(expected in message for message in messages), messages


def _messages(errors):
    """Each error's message and those of the oneOf branches under it."""
    return [message for error in errors for message in [error.message, *_messages(error.context)]]


def _kubectl_name(obj):
    """kubectl's -o name of an object it printed as JSON: kind lower-cased, the API group, the name."""
    group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
    return f"{obj['kind'].lower()}{'.' + group if group else ''}/{obj['metadata']['name']}"


def test_o_name_is_kubectls_kind_group_name(live_cluster, isolated, tmp_path):
    """kubectl prints clusterrolebinding.rbac.authorization.k8s.io/NAME: every kind here reads the same."""
    assert (
        run_cli(
            "create", "carol", "dev", *EC, *live_cluster.ca_args, "--clusterrole", "view"
        ).returncode
        == 0
    )
    selector = "app.kubernetes.io/managed-by=kubectl-usercert"
    theirs = live_cluster.admin(
        "get", "clusterrolebindings", "-l", selector, "-o", "name"
    ).stdout.split()
    listed = json.loads(
        live_cluster.admin("get", "clusterrolebindings", "-l", selector, "-o", "json").stdout
    )
    assert (
        theirs
        == [_kubectl_name(item) for item in listed["items"]]
        == ["clusterrolebinding.rbac.authorization.k8s.io/usercert:carol:view"]
    )  # the rule, as kubectl applies it

    roster = tmp_path / "team.yaml"
    roster.write_text(
        "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nmetadata: {name: team}\n"
        "spec:\n  users:\n  - name: carol\n    groups: [dev]\n"
    )
    for args in (
        ["inspect", "carol"],
        ["list"],
        ["verify", "carol"],
        ["whois", _serial_of("carol")],
        ["revoke", "carol", "--dry-run"],
        ["apply", "-f", roster, "--dry-run"],
        ["demo", "--dir"],
    ):
        as_json = json.loads(
            run_cli(*args, *([tmp_path / "d1"] if args[0] == "demo" else []), "-o", "json").stdout
        )
        ours = run_cli(*args, *([tmp_path / "d2"] if args[0] == "demo" else []), "-o", "name")
        assert ours.returncode == 0, ours.stderr
        expected = [_kubectl_name(item) for item in as_json.get("items", [as_json])]
        assert ours.stdout.splitlines() == expected and all(
            ".usercert.kubectl.io/" in line for line in expected
        )


def _serial_of(user):
    return json.loads(run_cli("inspect", user, "-o", "json").stdout)["status"]["serial"]


@pytest.mark.parametrize(
    "output,message",
    [
        ("xml", 'unable to match a printer suitable for the output format "xml"'),
        ("jsonpath={.status[}", "error parsing jsonpath {.status[}, unterminated array"),
        (
            "jsonpath={.status.serial[0]}",
            'error executing jsonpath "{.status.serial[0]}": string is not array or slice',
        ),
        ("jsonpath=", "template format specified but no template given"),
    ],
)
def test_bad_output_formats_are_one_line_errors(capsys, signing_ca, isolated, output, message):
    cli(capsys, "create", "alice", *EC, *ca_args(signing_ca), "--server", SERVER)
    result = run_here(capsys, "inspect", "alice", "-o", output)
    assert result.returncode == 2 and message in result.stderr and "hint:" in result.stderr
