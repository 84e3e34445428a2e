"""The ledger is read in one streaming pass at any size, with flat memory; what is not a regular
file is refused at once, never waited on or followed; a line no output could print is a damaged
line (issue 18, items 5 and 9)."""

import json
import os
import tracemalloc
from pathlib import Path

import pytest

from helpers import EC, SERVER, ca_args, ledger_lines, run_cli, run_here

LEDGER = Path("clients/.usercert/ledger.jsonl")


def create(capsys, ca, user):
    result = run_here(
        capsys, "create", user, "dev", *EC, *ca_args(ca), "--server", SERVER, "-o", "json"
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refused(result, needle, code=2):
    assert result.returncode == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and needle in errors[0], result.stderr
    assert (
        "hint: " in result.stderr
        and "Traceback" not in result.stderr
        and "internal error" not in result.stderr
    )


def test_a_fifo_in_place_of_the_ledger_is_refused_at_once(capsys, signing_ca, isolated):
    create(capsys, signing_ca, "alice")
    LEDGER.unlink()
    os.mkfifo(LEDGER)
    for args in (["list"], ["whois", "ab" * 32], ["renew", "alice", *ca_args(signing_ca)]):
        refused(run_cli(*args, timeout=30), f"the ledger {LEDGER} is not a file")


def test_a_ledger_past_256_mib_hides_nothing_written_after(capsys, signing_ca, isolated):
    create(capsys, signing_ca, "alice")
    with open(LEDGER, "r+b") as ledger:
        ledger.truncate(
            300 << 20
        )  # a sparse hole of 300 MiB: no disk used, one line too long to hold
    bob = create(capsys, signing_ca, "bob")
    assert os.path.getsize(LEDGER) > 300 << 20
    listing = run_cli("list", "-o", "json", timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert sorted(item["spec"]["user"] for item in json.loads(listing.stdout)["items"]) == [
        "alice",
        "bob",
    ]
    assert f"{LEDGER} line 2: longer than 1 MiB" in listing.stderr
    found = run_cli("whois", bob["status"]["fingerprintSHA256"], "-o", "json", timeout=120)
    assert found.returncode == 0, found.stderr
    assert [match["user"] for match in json.loads(found.stdout)["status"]["matches"]] == ["bob"]


def test_reading_a_large_ledger_keeps_memory_flat(capsys, signing_ca, isolated):
    create(capsys, signing_ca, "alice")
    line = ledger_lines()[0]
    with open(LEDGER, "a") as ledger:
        # four users renewed 3000 times, and lines a newer version made long (a field this one skips):
        # about 20 MB, few lines, so that the test is quick
        for number in range(3300):
            padding = {"padding": "x" * (64 << 10)} if number % 11 == 0 else {}
            ledger.write(
                json.dumps(
                    {
                        **line,
                        "user": f"user-{number % 4}",
                        "serial": f"{number:032X}",
                        "event": "renewed",
                        **padding,
                    }
                )
                + "\n"
            )
    size = os.path.getsize(LEDGER)
    assert size > 20 << 20
    tracemalloc.start()
    try:
        listing = run_here(capsys, "list", "-o", "json")
        found = run_here(capsys, "whois", f"{3299:032X}")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert listing.returncode == 0 and found.returncode == 0, listing.stderr + found.stderr
    assert len(json.loads(listing.stdout)["items"]) == 5
    assert "user-3" in found.stderr
    assert peak < size // 8, f"a {size >> 20} MiB ledger took {peak >> 20} MiB to read"


LONE_SURROGATE = '{"event": "issued", "user": "zq\\ud800x", "groups": ["dev"], "notAfter": "2030-01-01T00:00:00Z"}'


@pytest.mark.parametrize(
    "output",
    [
        [],
        ["-o", "json"],
        ["-o", "yaml"],
        ["-o", "name"],
        ["-o", "prometheus"],
        ["-o", "jsonpath={.items[*].metadata.name}"],
    ],
)
def test_a_lone_surrogate_in_the_ledger_is_a_damaged_line(capsys, signing_ca, isolated, output):
    create(capsys, signing_ca, "alice")
    with open(LEDGER, "a") as ledger:
        ledger.write(LONE_SURROGATE + "\n")
    listing = run_cli("list", *output)
    assert listing.returncode == 0, listing.stderr
    assert f"{LEDGER} line 2: user holds a lone surrogate (not text)" in listing.stderr
    assert "alice" in listing.stdout and "zq" not in listing.stdout


def test_apply_reads_past_a_lone_surrogate(signing_ca, isolated, capsys):
    create(capsys, signing_ca, "alice")
    with open(LEDGER, "a") as ledger:
        ledger.write(LONE_SURROGATE + "\n")  # another user's line
        ledger.write(
            LONE_SURROGATE.replace("zq\\ud800x", "alice").replace('["dev"]', '["dev\\udfff"]')
            + "\n"
        )
    Path("team.yaml").write_text(
        "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nmetadata: {name: t}\n"
        "spec:\n  defaults: {keyType: ecdsa, groups: [dev]}\n  users:\n  - {name: alice}\n"
    )
    applied = run_cli(
        "apply", "-f", "team.yaml", *ca_args(signing_ca), "--server", SERVER, "-o", "json"
    )
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["status"]["users"][0]["actions"] == ["unchanged"]
    assert "line 2: user holds a lone surrogate" in applied.stderr
    assert "line 3: groups holds a lone surrogate (not text)" in applied.stderr


def test_a_ledger_that_is_a_symbolic_link_is_named_as_one(capsys, signing_ca, isolated):
    create(capsys, signing_ca, "alice")
    LEDGER.unlink()
    os.symlink("ledger.jsonl", LEDGER)  # a loop: ELOOP, whatever opens it
    for args in (
        ["create", "bob", *EC, *ca_args(signing_ca), "--server", SERVER],
        ["list"],
        ["whois", "ab" * 32],
    ):
        result = run_here(capsys, *args)
        refused(result, f"{LEDGER} is a symbolic link")
        assert "permissions" not in result.stderr
    assert not os.path.exists("clients/bob")
