"""A team as code (issue 14): `apply -f` plans from the roster and the out-dir, acts on the changes
only, several users at a time, and one bad user does not stop the others. The roster's errors name
the file, the line and the field."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.x509.oid import NameOID

import schema
from helpers import (
    EC,
    LAUNCHER,
    SERVER,
    ca_args,
    cli_json,
    ledger_lines,
    run_cli,
    run_here,
    tree,
    user_cert,
)
from helpers import whoami as whoami_of
from kubectl_usercert.errors import InvalidInput
from kubectl_usercert.roster import roster


def roster_text(*users, defaults="{days: 30, keyType: ecdsa}"):
    entries = "".join(f"\n  - {user}" for user in users) or " []"
    return f"""apiVersion: usercert.kubectl.io/v1alpha1
kind: UserRoster
metadata: {{name: team}}
spec:
  defaults: {defaults}
  users:{entries}
"""


def write_roster(path, *users, **kwargs):
    Path(path).write_text(roster_text(*users, **kwargs))
    return path


def apply(*args, ca=None, **kwargs):
    return run_cli("apply", *args, *(ca_args(ca) if ca else []), "--server", SERVER, **kwargs)


def apply_json(*args, ca=None, code=0):
    """apply -o json that exits `code` (1: some user failed): the users by name, and the object."""
    result = apply(*args, "-o", "json", ca=ca)
    assert result.returncode == code, result.stderr
    obj = json.loads(result.stdout)
    schema.check(obj)
    return {user["name"]: user for user in obj["status"]["users"]}, obj


def groups_of(user):
    return [
        a.value for a in user_cert(user).subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    ]


# The roster: one-line errors with file, line and field


@pytest.mark.parametrize(
    "body, message",
    [
        (
            roster_text("{name: alice, days: soon}"),
            "team.yaml:7: spec.users[0].days: must be a whole number",
        ),
        (
            roster_text("{name: alice}", "{name: bob, groups: dev}"),
            "team.yaml:8: spec.users[1].groups: must be a list",
        ),
        (
            roster_text("{name: alice, group: [dev]}"),
            "team.yaml:7: spec.users[0].group: unknown field",
        ),
        (roster_text("{groups: [dev]}"), "team.yaml:7: spec.users[0]: needs a name"),
        (
            roster_text("{name: alice}", defaults="{renewBefore: 3 weeks}"),
            "team.yaml:5: spec.defaults.renewBefore: must",
        ),
        (
            roster_text("{name: alice, keyType: dsa}"),
            "team.yaml:7: spec.users[0].keyType: must be one of",
        ),
        (
            roster_text("{name: alice, roles: [{name: edit}]}"),
            "spec.users[0].roles[0].namespace: must be a non-empty",
        ),
        (
            roster_text("{name: alice, days: 3, expiration: 8h}"),
            "spec.users[0].expiration: give days or expiration",
        ),
        (
            roster_text("{name: alice}", "{name: alice}"),
            "team.yaml:8: spec.users: 'alice' is listed twice (also at team.yaml:7)",
        ),
        (roster_text().replace("UserRoster", "UserList"), "team.yaml:2: kind: must be UserRoster"),
        ("spec: [unclosed", "team.yaml:1: not valid YAML"),
        # a roster means one thing: what a reader sees listed is what is applied (issue 17.8)
        (
            roster_text("{name: alice}", "{name: bob}") + "  users:\n  - {name: carol}\n",
            "team.yaml:9: 'users' is given twice in one mapping (first on line 6)",
        ),
        (
            roster_text("name: alice\n    groups: [dev]\n    groups: [admins]"),
            "team.yaml:9: 'groups' is given twice in one mapping (first on line 8)",
        ),
        (
            roster_text("{name: alice, days: 1, renewBefore: 2d}"),
            "team.yaml:7: spec.users[0].renewBefore: 2d is not shorter than alice's lifetime (1d): every apply would renew",
        ),
        (
            roster_text("{name: alice, expiration: 8h}", defaults="{renewBefore: 8h}"),
            "team.yaml:5: spec.defaults.renewBefore: 8h is not shorter than alice's lifetime (8h)",
        ),
    ],
)
def test_roster_errors_name_the_file_the_line_and_the_field(body, message):
    with pytest.raises(InvalidInput) as raised:
        roster.load([("team.yaml", body)])
    assert message in raised.value.message and "\n" not in raised.value.message


def test_a_second_users_list_prunes_nobody(signing_ca, isolated):
    write_roster("team.yaml", "{name: alice}", "{name: bob}")
    assert apply("-f", "team.yaml", ca=signing_ca).returncode == 0
    Path("team.yaml").write_text(
        roster_text("{name: alice}", "{name: bob}") + "  users:\n  - {name: carol}\n"
    )
    result = apply("-f", "team.yaml", "--prune", ca=signing_ca)
    assert result.returncode == 2 and "team.yaml:9: 'users' is given twice" in result.stderr, (
        result.stderr
    )
    assert sorted(os.listdir("clients")) == [".usercert", "alice", "bob"]
    assert [line["event"] for line in ledger_lines()] == ["issued"] * 2


def test_defaults_apply_and_a_user_s_own_validity_replaces_them():
    alice, bob = roster.load(
        [
            (
                "t",
                roster_text(
                    "{name: alice, groups: [dev]}",
                    "{name: bob, expiration: 8h, renewBefore: 2h}",
                    defaults="{days: 30, renewBefore: 10d, keyType: ecdsa, namespace: team-a}",
                ),
            )
        ]
    )
    assert (alice.validity.days, alice.renew_before.days, alice.key.type, alice.namespace) == (
        30,
        10,
        "ecdsa",
        "team-a",
    )
    assert bob.validity.total_seconds() == 8 * 3600 and bob.groups == ()


def test_expiring_is_the_last_30_days_or_the_last_third_of_a_shorter_life():
    from datetime import datetime, timezone

    from kubectl_usercert.output.results import certificate_state

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for lifetime, fresh, due in ((365, 334, 336), (30, 19, 21), (1, 0.6, 0.7)):
        end = start + timedelta(days=lifetime)
        assert certificate_state(start, end, start + timedelta(days=fresh)) == "valid", lifetime
        assert certificate_state(start, end, start + timedelta(days=due)) == "expiring", lifetime
    assert (
        roster.load([("t", roster_text("{name: a, days: 30}", "{name: b, expiration: 8h}"))])[
            1
        ].renew_before
        == timedelta(hours=8) / 3
    )


def test_a_bad_roster_exits_2_and_writes_nothing(capsys, signing_ca, isolated):
    write_roster("team.yaml", "{name: alice, days: -1}")
    result = run_here(capsys, "apply", "-f", "team.yaml", *ca_args(signing_ca), "--server", SERVER)
    assert result.returncode == 2 and result.stderr.count("\n") <= 2, result.stderr
    assert "team.yaml:7: spec.users[0].days" in result.stderr and tree(isolated) == ["team.yaml"]


# Plan, act, and nothing the second time


def test_apply_issues_then_reapplying_does_nothing_and_starts_no_openssl(
    signing_ca, isolated, tmp_path
):
    write_roster(
        "team.yaml", "{name: alice, groups: [dev, oncall]}", "{name: bob, days: 7}", "{name: carol}"
    )
    users, obj = apply_json("-f", "team.yaml", ca=signing_ca)
    assert [u["actions"] for u in users.values()] == [["create"]] * 3 and obj["status"][
        "failed"
    ] == 0
    assert groups_of("alice") == ["dev", "oncall"] and groups_of("bob") == []
    bob = user_cert("bob")
    assert (bob.not_valid_after_utc - bob.not_valid_before_utc).days == 7
    assert [line["event"] for line in ledger_lines()] == ["issued"] * 3

    broken = tmp_path / "no-openssl"  # any openssl run fails the test
    broken.mkdir()
    (broken / "openssl").write_text("#!/bin/sh\necho openssl ran >&2\nexit 99\n")
    (broken / "openssl").chmod(0o755)
    env = {**os.environ, "PATH": f"{broken}{os.pathsep}{os.environ['PATH']}"}
    again = apply("-f", "team.yaml", ca=signing_ca, env=env)
    assert again.returncode == 0, again.stderr
    assert "3 unchanged" in again.stderr and "openssl ran" not in again.stderr
    assert [line["event"] for line in ledger_lines()] == ["issued"] * 3


def test_dry_run_prints_the_plan_and_changes_nothing(capsys, signing_ca, isolated):
    write_roster("team.yaml", "{name: alice}", "{name: bob}")
    assert apply("-f", "team.yaml", ca=signing_ca).returncode == 0
    write_roster("team.yaml", "{name: alice, groups: [ops]}", "{name: carol}")
    before = {path: Path(path).stat().st_mtime_ns for path in Path("clients").rglob("*")}
    plan = run_here(
        capsys, "apply", "-f", "team.yaml", "--dry-run", *ca_args(signing_ca), "--server", SERVER
    )
    assert plan.returncode == 0, plan.stderr
    rows = {line.split()[0]: line.split()[1] for line in plan.stdout.splitlines()[1:]}
    assert rows == {"alice": "reissue", "carol": "create", "bob": "unlisted"}
    assert "groups (none) -> ops" in plan.stdout and "--prune revokes it" in plan.stdout
    assert {path: Path(path).stat().st_mtime_ns for path in Path("clients").rglob("*")} == before

    users, obj = apply_json("-f", "team.yaml", "--dry-run", "--prune", ca=signing_ca)
    assert obj["kind"] == "UserRosterPlan" and obj["spec"] == {"dryRun": True, "prune": True}
    assert {name: user["actions"] for name, user in users.items()} == {
        "alice": ["reissue"],
        "carol": ["create"],
        "bob": ["prune"],
    }
    assert {user["outcome"] for user in users.values()} == {"planned"}
    assert obj["status"]["counts"]["reissue"] == 1
    assert {path: Path(path).stat().st_mtime_ns for path in Path("clients").rglob("*")} == before


def test_changed_groups_reissue_and_say_the_old_one_stays_valid(signing_ca, isolated):
    write_roster("team.yaml", "{name: alice, groups: [dev]}")
    assert apply("-f", "team.yaml", ca=signing_ca).returncode == 0
    old_serial = user_cert("alice").serial_number
    write_roster("team.yaml", "{name: alice, groups: [dev, oncall]}")
    result = apply("-f", "team.yaml", ca=signing_ca)
    assert result.returncode == 0, result.stderr
    assert "stays valid until" in result.stderr and "Kubernetes cannot revoke it" in result.stderr
    assert (
        groups_of("alice") == ["dev", "oncall"] and user_cert("alice").serial_number != old_serial
    )


def test_renew_before_and_another_ca_renew(signing_ca, isolated, tmp_path):
    import pki

    write_roster("team.yaml", "{name: alice}", "{name: bob}", defaults="{days: 30, keyType: ecdsa}")
    assert apply("-f", "team.yaml", ca=signing_ca).returncode == 0
    write_roster(
        "team.yaml",
        "{name: alice}",
        "{name: bob, days: 60, renewBefore: 31d}",
        defaults="{days: 30, keyType: ecdsa}",
    )
    users, _ = apply_json("-f", "team.yaml", ca=signing_ca)
    assert users["alice"]["actions"] == ["unchanged"] and users["bob"]["actions"] == ["renew"]
    assert "renewBefore 31d" in users["bob"]["reasons"][0]

    other = pki.make_ca(tmp_path / "other", "new-client-ca")
    users, _ = apply_json("-f", "team.yaml", ca=other)
    assert users["alice"]["reasons"] == ["signed by another CA than the one in use now"]
    assert user_cert("alice").issuer.rfc4514_string() == "CN=new-client-ca"


def test_one_bad_user_does_not_stop_the_others(signing_ca, isolated):
    write_roster(
        "team.yaml",
        "{name: alice}",
        "{name: '=admin'}",
        "{name: carol, groups: [system:masters]}",
        "{name: dave}",
    )
    result = apply("-f", "team.yaml", "-o", "json", ca=signing_ca)
    assert result.returncode == 1
    users = {user["name"]: user for user in json.loads(result.stdout)["status"]["users"]}
    assert users["=admin"]["outcome"] == "failed" and "starts with '='" in users["=admin"]["error"]
    assert users["carol"]["outcome"] == "failed" and "system:masters" in users["carol"]["error"]
    assert users["alice"]["outcome"] == users["dave"]["outcome"] == "done", (users, result.stderr)
    assert sorted(os.listdir("clients")) == [".usercert", "alice", "dave"]
    assert "2 failed" in result.stderr


def test_stdin_several_files_and_a_user_in_two_files(signing_ca, isolated):
    write_roster("a.yaml", "{name: alice}")
    both = apply("-f", "a.yaml", "-f", "-", ca=signing_ca, stdin=roster_text("{name: bob}"))
    assert both.returncode == 0, both.stderr
    assert sorted(os.listdir("clients")) == [".usercert", "alice", "bob"]
    write_roster("b.yaml", "{name: alice}")
    twice = apply("-f", "a.yaml", "-f", "b.yaml", ca=signing_ca)
    assert (
        twice.returncode == 2
        and "b.yaml:7: spec.users: 'alice' is listed twice (also at a.yaml:7)" in twice.stderr
    )


def test_prune_revokes_what_the_roster_no_longer_lists(signing_ca, isolated):
    write_roster("team.yaml", "{name: alice}", "{name: bob}")
    assert apply("-f", "team.yaml", ca=signing_ca).returncode == 0
    write_roster("team.yaml", "{name: alice}")
    users, _ = apply_json("-f", "team.yaml", "--prune", ca=signing_ca)
    assert users["bob"]["actions"] == ["prune"] and users["bob"]["outcome"] == "done"
    assert not Path("clients/bob").exists() and ledger_lines()[-1]["event"] == "revoked"
    users, _ = apply_json("-f", "team.yaml", "--prune", ca=signing_ca)
    assert list(users) == ["alice"] and users["alice"]["actions"] == ["unchanged"]


def test_prune_leaves_a_folder_this_tool_never_issued(signing_ca, isolated, tmp_path):
    import pki

    write_roster("team.yaml", "{name: alice}")
    assert apply("-f", "team.yaml", ca=signing_ca).returncode == 0
    os.mkdir("clients/zed")
    by_hand = pki.make_ca(
        tmp_path / "by-hand", "zed"
    )  # a certificate for CN=zed, put there by hand
    Path("clients/zed/zed.crt").write_bytes(Path(by_hand.cert_path).read_bytes())
    users, _ = apply_json("-f", "team.yaml", "--prune", ca=signing_ca)
    assert (
        users["zed"]["actions"] == ["unlisted"]
        and "not issued by this tool as far as the ledger knows" in users["zed"]["reasons"][0]
    )
    assert Path("clients/zed/zed.crt").exists()


def test_apply_renews_with_the_ca_recorded_at_issue(signing_ca, isolated):
    write_roster("team.yaml", "{name: alice}", "{name: bob}")
    assert apply("-f", "team.yaml", ca=signing_ca).returncode == 0
    before = user_cert("bob").serial_number
    write_roster("team.yaml", "{name: alice}", "{name: bob, days: 60, renewBefore: 31d}")
    users, _ = apply_json(
        "-f", "team.yaml"
    )  # no CA flags, no kubeconfig: bob renews with the recorded CA
    assert users["bob"]["actions"] == ["renew"] and users["bob"]["outcome"] == "done", users["bob"]
    assert user_cert("bob").serial_number != before
    assert user_cert("bob").issuer == signing_ca.cert.subject

    write_roster("team.yaml", "{name: alice, days: 60, renewBefore: 31d}", "{name: bob}")
    os.unlink(signing_ca.key_path)
    users, _ = apply_json("-f", "team.yaml", code=1)
    assert users["alice"]["outcome"] == "failed"
    assert (
        users["alice"]["error"]
        == f"the CA that issued 'alice' is gone: {signing_ca.key_path} not found"
    )


def test_an_interrupted_apply_is_completed_by_running_it_again(signing_ca, isolated, tmp_path):
    names = [f"user{n}" for n in range(6)]
    write_roster("team.yaml", *(f"{{name: {name}}}" for name in names))
    slow = (
        tmp_path / "slow-openssl"
    )  # each key takes half a second: the signal comes in the middle of the run
    slow.write_text('#!/bin/sh\ncase "$1" in genpkey) sleep 0.5 ;; esac\nexec openssl "$@"\n')
    slow.chmod(0o755)
    process = subprocess.Popen(
        [
            sys.executable,
            str(LAUNCHER),
            "apply",
            "-f",
            "team.yaml",
            "-j",
            "1",
            *ca_args(signing_ca),
            "--server",
            SERVER,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, USERCERT_OPENSSL=str(slow)),
    )
    deadline = time.monotonic() + 60
    while not Path("clients/user0").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    issued_before = [line["user"] for line in ledger_lines()]
    assert 0 < len(issued_before) < len(names)

    result = apply("-f", "team.yaml", "-j", "2", ca=signing_ca)
    assert result.returncode == 0, result.stderr
    issued = [line["user"] for line in ledger_lines()]
    assert sorted(issued) == names, "each user issued exactly once"
    assert sorted(p for p in os.listdir("clients") if not p.startswith(".")) == names


def test_create_from_a_csv_file(signing_ca, isolated):
    Path("users.csv").write_text("# user,group...\nalice,dev,oncall\n\nbob\n")
    result = run_cli(
        "create",
        "--from-file",
        "users.csv",
        "--days",
        "3",
        *EC,
        *ca_args(signing_ca),
        "--server",
        SERVER,
    )
    assert result.returncode == 0, result.stderr
    assert groups_of("alice") == ["dev", "oncall"] and groups_of("bob") == []
    cert = user_cert("bob")
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 3
    Path("users.csv").write_text(",dev\n")
    empty = run_cli("create", "--from-file", "users.csv", *ca_args(signing_ca), "--server", SERVER)
    assert empty.returncode == 2 and "users.csv:1: the user name is empty" in empty.stderr


# Renew signs as before; expiry you can monitor


def test_renew_uses_the_ca_files_recorded_at_create(signing_ca, isolated, tmp_path):
    created = cli_json("create", "alice", *EC, *ca_args(signing_ca), "--server", SERVER)
    renewed = run_cli("renew", "alice", "-o", "json")  # no CA flags, no kubeconfig: the recorded CA
    assert renewed.returncode == 0, renewed.stderr
    assert json.loads(renewed.stdout)["status"]["previousSerial"] == created["status"]["serial"]

    import pki

    other = pki.make_ca(
        tmp_path / "other", "client-ca"
    )  # same name, another key, in the recorded place
    for recorded, replacement in (
        (signing_ca.cert_path, other.cert_path),
        (signing_ca.key_path, other.key_path),
    ):
        os.replace(replacement, recorded)
    swapped = run_cli("renew", "alice")
    assert (
        swapped.returncode == 2
        and "the CA found is not the one that issued 'alice'" in swapped.stderr
    )

    os.unlink(signing_ca.key_path)
    gone = run_cli("renew", "alice")
    assert gone.returncode == 2 and len(gone.stderr.strip().splitlines()) == 2, gone.stderr
    assert f"the CA that issued 'alice' is gone: {signing_ca.key_path} not found" in gone.stderr


def test_list_expiring_exit_code_and_prometheus(signing_ca, isolated):
    for user, days in (("alice", "3"), ("bob", "90")):
        assert (
            run_cli(
                "create", user, "--days", days, *EC, *ca_args(signing_ca), "--server", SERVER
            ).returncode
            == 0
        )
    assert run_cli("list", "--expiring", "14d", "--exit-code").returncode == 1
    assert run_cli("list", "--expiring", "1d", "--exit-code").returncode == 0
    metrics = run_cli("list", "-o", "prometheus")
    assert metrics.returncode == 0, metrics.stderr
    lines = metrics.stdout.splitlines()
    expiry = [
        line for line in lines if line.startswith("usercert_certificate_expiry_timestamp_seconds{")
    ]
    serial = format(user_cert("alice").serial_number, "X")
    assert len(expiry) == 2 and any(
        'user="alice"' in line and serial.lower() in line.lower() for line in expiry
    )
    alice = next(line for line in expiry if 'user="alice"' in line)
    assert int(alice.rsplit(" ", 1)[1]) == int(user_cert("alice").not_valid_after_utc.timestamp())
    assert "# TYPE usercert_certificate_expiry_timestamp_seconds gauge" in lines

    assert run_cli("revoke", "alice").returncode in (
        0,
        1,
    )  # (no kubeconfig: its bindings stay to remove)
    assert (
        run_cli("list", "--expiring", "14d", "--exit-code").returncode == 0
    )  # revoked: out of use


# End to end: the roster applied, re-applied, changed and pruned, each step checked in the cluster


def test_a_roster_against_the_cluster(live_cluster, isolated):
    team = textwrap.dedent("""\
        apiVersion: usercert.kubectl.io/v1alpha1
        kind: UserRoster
        metadata: {name: platform-team}
        spec:
          defaults: {days: 30, keyType: ecdsa, namespace: team-a}
          users:
          - {name: alice, groups: [developers], preset: read-only}
          - {name: bob, groups: [developers], clusterRoles: [view]}
          - {name: carol, roles: [{name: edit, namespace: team-b}]}
        """)
    for namespace in ("team-a", "team-b"):
        live_cluster.server.seed(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
    assert (
        live_cluster.admin(
            "create", "role", "edit", "--verb=get", "--resource=pods", "-n", "team-b"
        ).returncode
        == 0
    )
    Path("team.yaml").write_text(team)
    first = run_cli("apply", "-f", "team.yaml", *live_cluster.ca_args)
    assert first.returncode == 0, first.stderr
    for user, groups in (("alice", ["developers"]), ("bob", ["developers"]), ("carol", [])):
        assert whoami_of(live_cluster, f"clients/{user}/kubeconfig") == {
            "username": user,
            "groups": groups + ["system:authenticated"],
        }
    pods = live_cluster.kubectl("clients/alice/kubeconfig", "get", "pods", "-n", "team-a")
    assert pods.returncode == 0, pods.stderr

    again = run_cli("apply", "-f", "team.yaml", *live_cluster.ca_args)
    assert again.returncode == 0 and "3 unchanged" in again.stderr, again.stderr

    Path("team.yaml").write_text(
        team.replace("groups: [developers], preset", "groups: [oncall], preset")
        .replace("clusterRoles: [view]", "clusterRoles: [edit]")
        .replace("  - {name: carol, roles: [{name: edit, namespace: team-b}]}\n", "")
    )
    changed = run_cli("apply", "-f", "team.yaml", "--prune", *live_cluster.ca_args, "-o", "json")
    assert changed.returncode == 0, changed.stderr
    users = {
        user["name"]: user["actions"] for user in json.loads(changed.stdout)["status"]["users"]
    }
    assert users == {"alice": ["reissue"], "bob": ["rebind"], "carol": ["prune"]}
    assert whoami_of(live_cluster, "clients/alice/kubeconfig")["groups"] == [
        "oncall",
        "system:authenticated",
    ]
    bindings = live_cluster.admin("get", "rolebindings,clusterrolebindings", "-A", "-o", "json")
    names = {item["metadata"]["name"] for item in json.loads(bindings.stdout)["items"]}
    assert {name for name in names if name.startswith("usercert:")} == {
        "usercert:alice:usercert:read-only",
        "usercert:bob:edit",
    }
    assert not Path("clients/carol").exists()
    assert (
        run_cli("apply", "-f", "team.yaml", "--prune", *live_cluster.ca_args).stderr.count(
            "unchanged"
        )
        >= 1
    )


def test_a_missing_namespace_or_role_fails_that_user_before_anything_is_issued(
    live_cluster, isolated
):
    taken = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "usercert:dave:view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "someone-else"}
        ],
    }
    assert live_cluster.admin("apply", "-f", "-", stdin=json.dumps(taken)).returncode == 0
    write_roster(
        "team.yaml",
        "{name: alice, preset: read-only, namespace: nowhere}",
        "{name: bob, roles: [{name: nobody, namespace: default}]}",
        "{name: carol, preset: read-only}",
        "{name: dave, clusterRoles: [view]}",
    )
    result = run_cli("apply", "-f", "team.yaml", *live_cluster.ca_args)
    assert result.returncode == 1
    assert 'alice: namespace "nowhere" does not exist' in result.stderr
    assert 'bob: Role "nobody" in namespace "default" does not exist' in result.stderr
    assert (
        'dave: ClusterRoleBinding "usercert:dave:view" exists and binds something else'
        in result.stderr
    )
    assert sorted(os.listdir("clients")) == [".usercert", "carol"]


def test_distinct_users_and_roles_never_share_a_binding(live_cluster, isolated):
    """User a:b with ClusterRole c and user a with ClusterRole b:c were both usercert:a:b:c: the second
    apply took the first's binding over. One user's Role and ClusterRole of one name in one namespace
    cannot both be usercert:USER:NAME there: that user is refused before anything is issued."""
    live_cluster.server.seed(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    )
    for role in ("c", "b:c"):
        assert (
            live_cluster.admin(
                "create", "clusterrole", role, "--verb=get", "--resource=pods"
            ).returncode
            == 0
        )
    assert (
        live_cluster.admin(
            "create", "role", "view", "--verb=get", "--resource=pods", "-n", "team-a"
        ).returncode
        == 0
    )
    write_roster(
        "team.yaml",
        "{name: 'a:b', clusterRoles: [c]}",
        "{name: a, clusterRoles: ['b:c']}",
        "{name: dave, namespace: team-a, clusterRoles: [view], roles: [{name: view, namespace: team-a}]}",
    )
    result = run_cli("apply", "-f", "team.yaml", *live_cluster.ca_args, "-o", "json")
    assert result.returncode == 1, result.stderr
    users = {user["name"]: user for user in json.loads(result.stdout)["status"]["users"]}
    assert users["a:b"]["outcome"] == users["a"]["outcome"] == "done", users
    assert (
        users["dave"]["outcome"] == "failed"
        and users["dave"]["error"]
        == "two bindings would be RoleBinding \"usercert:dave:view\" in team-a (dave's ClusterRole view and dave's "
        "Role view): only one can be"
    )
    found = json.loads(live_cluster.admin("get", "clusterrolebindings", "-o", "json").stdout)[
        "items"
    ]
    bound = {
        item["metadata"]["name"]: (item["subjects"][0]["name"], item["roleRef"]["name"])
        for item in found
        if item["metadata"]["name"].startswith("usercert:")
    }
    assert bound == {"usercert:a~cb:c": ("a:b", "c"), "usercert:a:b:c": ("a", "b:c")}
    assert sorted(os.listdir("clients")) == [".usercert", "a", "a:b"]


def test_many_users_at_once_leave_one_whole_ledger_line_each(signing_ca, isolated):
    names = [f"user{n:02}" for n in range(16)]
    write_roster(
        "team.yaml", *(f"{{name: {name}, groups: [g{n}]}}" for n, name in enumerate(names))
    )
    result = apply("-f", "team.yaml", "-j", "8", ca=signing_ca)
    assert result.returncode == 0, result.stderr
    lines = ledger_lines()
    assert sorted(line["user"] for line in lines) == names
    assert all(line["groups"] == [f"g{names.index(line['user'])}"] for line in lines)
    assert len({line["serial"] for line in lines}) == 16


def test_a_roster_signed_through_the_csr_api_then_renewed_the_same_way(live_cluster, isolated):
    live_cluster.server.sign_csrs_with(live_cluster.client_ca.cert, live_cluster.client_ca.key)
    write_roster(
        "team.yaml",
        "{name: alice, groups: [dev]}",
        "{name: bob, expiration: 8h}",
        defaults="{keyType: ecdsa, signer: csr}",
    )
    first = run_cli("apply", "-f", "team.yaml", "--approve")
    assert first.returncode == 0, first.stderr
    assert whoami_of(live_cluster, "clients/alice/kubeconfig")["groups"] == [
        "dev",
        "system:authenticated",
    ]
    bob = user_cert("bob")
    assert bob.not_valid_after_utc - bob.not_valid_before_utc <= timedelta(hours=8, minutes=5)
    assert {line["signer"] for line in ledger_lines()} == {"csr"}
    write_roster(
        "team.yaml",
        "{name: alice, groups: [dev]}",
        "{name: bob, expiration: 10h, renewBefore: 9h}",
        defaults="{keyType: ecdsa, signer: csr}",
    )
    renewed = run_cli("apply", "-f", "team.yaml", "--approve", "-o", "json")
    assert renewed.returncode == 0, renewed.stderr
    users = {
        user["name"]: user["actions"] for user in json.loads(renewed.stdout)["status"]["users"]
    }
    assert users == {"alice": ["unchanged"], "bob": ["renew"]}
    assert ledger_lines()[-1]["event"] == "renewed" and ledger_lines()[-1]["signer"] == "csr"
    assert live_cluster.server.list("certificates.k8s.io/v1", "CertificateSigningRequest") == []

    write_roster(
        "team.yaml",
        "{name: alice, groups: [dev]}",
        "{name: bob, expiration: 12h, renewBefore: 11h}",
        defaults="{keyType: ecdsa}",
    )
    moved = run_cli(
        "apply", "-f", "team.yaml", *live_cluster.ca_args
    )  # a CA named here wins over the ledger
    assert moved.returncode == 0, moved.stderr
    assert (ledger_lines()[-1]["user"], ledger_lines()[-1]["signer"]) == ("bob", "local")
