"""A roster (or a CSV) that is hostile or broken costs one line, exit 2 and nothing written, within a
few seconds and about 100 MB whatever it holds (issue 18, items 1 and 2); a roster means one thing
(issue 17, item 8). Each run is a child with its address space and time bounded."""

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import LAUNCHER, SERVER, ca_args, tree

MEMORY = (
    128 << 20
)  # address space: the CLI needs ~60 MB of it to start; a bomb expanded needs gigabytes
HEAD = "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nspec:\n  users:\n"


def bounded(*args, stdin=None):
    """The CLI in a child limited to MEMORY of address space and 30 s."""

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    return subprocess.run(
        [sys.executable, str(LAUNCHER), *map(str, args)],
        capture_output=True,
        timeout=30,
        preexec_fn=limit,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def refused(result, needle):
    """Exit 2, one error line and a hint, no traceback, nothing but `needle` to look for."""
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), err
    assert needle in lines[0], err


def alias_bomb(levels=12, width=9):
    """761 bytes that safe_load would expand to 9**12 strings."""
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\n{HEAD.replace('  users:', f'  users: *a{levels - 1}')}"


@pytest.mark.parametrize(
    "body, needle",
    [
        (alias_bomb(), "team.yaml:6: holds more than 100000 values (with its aliases expanded)"),
        (
            "x: &m {k0: x, k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x, k8: x}\n"
            + "".join(
                f"m{i}: &m{i} [{', '.join([f'*m{i - 1}' if i > 1 else '*m'] * 9)}]\n"
                for i in range(1, 12)
            ),
            "holds more than 100000 values",
        ),
        ("spec: [" + "a, " * 400_000 + "a]\n", "team.yaml:1: holds more than 100000 values"),
        (
            HEAD + "  - name: !!python/object/apply:os.system ['touch pwned']\n",
            "team.yaml:5: the YAML tag !!python/object/apply:os.system is not allowed here",
        ),
        (HEAD + "  - {name: !foo x}\n", "team.yaml:5: the YAML tag !foo is not allowed here"),
        (
            HEAD + "  - {name: !!binary YWxpY2U=}\n",
            "team.yaml:5: the YAML tag !!binary is not allowed here",
        ),
        (
            HEAD.replace("  users:\n", "  users: &a [*a]\n"),
            "team.yaml:4: the alias *a is inside the node it names",
        ),
        (
            HEAD + "  - ? [a, b]\n    : x\n",
            "team.yaml:5: a key must be a plain value, not a list or a mapping",
        ),
        ("spec: " + "[" * 50_000 + "]" * 50_000 + "\n", "team.yaml:1: nested deeper than"),
        ("spec: " + "[" * 101 + "]" * 101 + "\n", "team.yaml:1: nested deeper than 100 levels"),
        (
            HEAD + "  - {name: alice}\n  - *nowhere\n",
            "team.yaml:6: not valid YAML (found undefined alias 'nowhere')",
        ),
        (HEAD + "  - {name: alice}\n  - name: bob\n x: [\n", "team.yaml:7: not valid YAML"),
        (
            HEAD + "  - {name: al\x00ice}\n",
            "team.yaml:5: not valid YAML (the character U+0000 is not allowed)",
        ),
    ],
)
def test_a_hostile_roster_is_one_line_and_writes_nothing(signing_ca, isolated, body, needle):
    Path("team.yaml").write_text(body)
    refused(bounded("apply", "-f", "team.yaml", *ca_args(signing_ca), "--server", SERVER), needle)
    assert tree(isolated) == ["team.yaml"]


def test_the_same_bomb_on_stdin(signing_ca, isolated):
    refused(
        bounded(
            "apply",
            "-f",
            "-",
            *ca_args(signing_ca),
            "--server",
            SERVER,
            stdin=alias_bomb().encode(),
        ),
        "stdin:6: holds more than 100000 values",
    )
    assert tree(isolated) == []


def test_anchors_aliases_and_merge_keys_still_read_as_yaml_means():
    from kubectl_usercert.roster import roster

    alice, bob, carol = roster.load(
        [
            (
                "team.yaml",
                HEAD + "  - &base {name: alice, groups: [dev], days: 30}\n"
                "  - {<<: *base, name: bob}\n"
                "  - <<: *base\n    name: carol\n    groups: [ops]\n",
            )
        ]
    )
    assert (bob.name, bob.groups, bob.validity.days) == ("bob", ("dev",), 30)
    assert (carol.name, carol.groups, carol.validity.days) == ("carol", ("ops",), 30)


# 18.2: bytes and sizes


@pytest.mark.parametrize(
    "name, data, needle",
    [
        ("users.csv", b"bob\n\xff\xfeal\xffice,dev\n", "users.csv:2: not UTF-8 text (byte 0xff)"),
        (
            "users.csv",
            b"alice," + b"x" * 140_000 + b"\n",
            "users.csv:1: not a CSV line (field larger than field limit",
        ),
        (
            "users.csv",
            b"".join(b"user%d,dev\n" % n for n in range(70_000)),
            "users.csv:5001: more than 5000 users; apply takes at most 5000 in one run",
        ),
    ],
)
def test_a_hostile_csv_is_one_line_and_writes_nothing(signing_ca, isolated, name, data, needle):
    Path(name).write_bytes(data)
    refused(
        bounded("create", "--from-file", name, *ca_args(signing_ca), "--server", SERVER), needle
    )
    assert tree(isolated) == [name]


def test_a_roster_that_is_not_utf8_is_refused_naming_the_line(signing_ca, isolated):
    body = (HEAD + "  - {name: bob}\n  - {name: \xff\xfeal\xffice}\n").encode("latin-1")
    Path("team.yaml").write_bytes(body)
    refused(
        bounded("apply", "-f", "team.yaml", *ca_args(signing_ca), "--server", SERVER),
        "team.yaml:6: not UTF-8 text (byte 0xff)",
    )
    refused(
        bounded("apply", "-f", "-", *ca_args(signing_ca), "--server", SERVER, stdin=body),
        "stdin:6: not UTF-8 text (byte 0xff)",
    )
    assert tree(isolated) == ["team.yaml"]


def test_a_csv_is_checked_as_a_roster_naming_its_own_lines(signing_ca, isolated):
    """Built in memory, never written out as YAML and read back: a user's error names the CSV's line."""
    from kubectl_usercert.commands.apply import roster_from_csv
    from kubectl_usercert.errors import InvalidInput
    from kubectl_usercert.roster import roster

    built = roster_from_csv("users.csv", "alice,dev\n# a comment\n\nbob\n", {"days": 3})
    alice, bob = roster.load([("users.csv", built)])
    assert (alice.name, alice.groups, alice.source, bob.source) == (
        "alice",
        ("dev",),
        "users.csv:1",
        "users.csv:4",
    )
    with pytest.raises(InvalidInput) as raised:
        roster.load([("users.csv", roster_from_csv("users.csv", "alice\n\nalice,dev\n", {}))])
    assert (
        raised.value.message
        == "users.csv:3: spec.users: 'alice' is listed twice (also at users.csv:1)"
    )
