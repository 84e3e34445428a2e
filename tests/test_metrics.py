"""`list -o prometheus` and `--textfile`, read by a real Prometheus text parser (prometheus_client's,
as node_exporter's textfile collector parses the same format): several out-dirs in one textfile
folder never make two series alike, labels mean one thing each, and the file appears whole."""

import json
import os
import stat
from urllib.parse import unquote

import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import EC, ca_args, run_cli, run_here, tree
from kubectl_usercert.output import metrics
from kubectl_usercert.store import files

STATES = ("valid", "expiring", "expired", "not_yet_valid", "files_missing", "revoked")


def samples(*texts):
    """Every sample of the texts: (name, labels, value)."""
    return [
        (sample.name, sample.labels, sample.value)
        for text in texts
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def issue(out_dir, server, ca, *users):
    for user, groups in users:
        made = run_cli(
            "create",
            user,
            *[arg for group in groups for arg in ("-g", group)],
            *EC,
            *ca_args(ca),
            "--server",
            server,
            "--out-dir",
            out_dir,
        )
        assert made.returncode == 0, made.stderr


def test_two_out_dirs_in_one_textfile_folder(signing_ca, isolated, tmp_path):
    """Two clusters' out-dirs with the same users: node_exporter kept 4 series of 16 (the rest duplicates)."""
    folder = tmp_path / "textfile"
    folder.mkdir()
    for out_dir, server in (
        ("east", "https://east.example:6443"),
        ("west", "https://west.example:6443"),
    ):
        issue(out_dir, server, signing_ca, ("alice", ["x,y"]), ("bob", ["x", "y"]))
        written = run_cli("list", "--out-dir", out_dir, "--textfile", folder / f"{out_dir}.prom")
        assert written.returncode == 0 and written.stdout == "", written.stderr
        assert f"{out_dir}.prom" in written.stderr
    assert tree(folder) == ["east.prom", "west.prom"]  # no temporary file left
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    texts = [(folder / name).read_text() for name in ("east.prom", "west.prom")]
    found = samples(*texts)
    assert found == samples("".join(texts))  # the same read as one file
    series = [(name, tuple(sorted(labels.items()))) for name, labels, _ in found]
    assert len(series) == len(set(series)) == 2 * (2 + 2 + len(STATES))
    counts = {
        (labels["out_dir"], labels["state"]): value
        for name, labels, value in found
        if name == "usercert_certificates"
    }
    dirs = [str(tmp_path / "work" / name) for name in ("east", "west")]
    assert counts == {
        (out_dir, state): 2 if state == "valid" else 0 for out_dir in dirs for state in STATES
    }
    expiry = [
        labels
        for name, labels, _ in found
        if name == "usercert_certificate_expiry_timestamp_seconds"
    ]
    assert {(labels["out_dir"], labels["server"], labels["user"]) for labels in expiry} == {
        (dirs[0], "https://east.example:6443", "alice"),
        (dirs[0], "https://east.example:6443", "bob"),
        (dirs[1], "https://west.example:6443", "alice"),
        (dirs[1], "https://west.example:6443", "bob"),
    }
    groups = {
        labels["user"]: [unquote(group) for group in labels["groups"].split(",")]
        for labels in expiry
    }
    assert groups == {
        "alice": ["x,y"],
        "bob": ["x", "y"],
    }  # the one group x,y is not the groups x and y
    for _, labels, _ in found:
        assert all(" " not in value for key, value in labels.items() if key == "state")


def test_a_carriage_return_from_the_ledger_breaks_no_line(signing_ca, isolated):
    issue("clients", "https://x:6443", signing_ca, ("alice", ["dev"]))
    ledger = "clients/.usercert/ledger.jsonl"
    record = json.loads(open(ledger).read().splitlines()[0])
    record.update(
        user="carol\rx", groups=["a\rb", 'q"\\', "n\nl"], serial="0A", path="clients/carol"
    )
    with open(ledger, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    listed = run_cli("list", "-o", "prometheus")
    assert listed.returncode == 0, listed.stderr
    assert run_cli("list", "--textfile", "metrics.prom").returncode == 0
    data = open("metrics.prom", "rb").read()  # as bytes: text mode would read a \r as a line end
    assert b"\r" not in data and data.decode() == listed.stdout
    carol = [
        labels
        for _, labels, _ in samples(data.decode())
        if labels.get("user", "").startswith("carol")
    ]
    assert len(carol) == 2  # expiry and notBefore, each on its line
    assert carol[0]["user"] == "carol\\rx"  # as the tool shows it everywhere: its escape, as text
    assert carol[0]["groups"] == 'a\\rb,q"\\,n\nl'  # \\, \" and \n: the text format's own escapes


@pytest.mark.parametrize("failure", ["full disk", "rename"])
def test_a_failed_textfile_leaves_the_old_one(
    capsys, signing_ca, isolated, tmp_path, monkeypatch, failure
):
    issue("clients", "https://x:6443", signing_ca, ("alice", ["dev"]))
    folder = tmp_path / "textfile"
    folder.mkdir()
    previous = "# HELP usercert_certificate_expiry_timestamp_seconds the previous run's\n"
    (folder / "usercert.prom").write_text(previous)
    if failure == "full disk":
        import kubectl_usercert.store.ledger  # noqa: F401 (it binds files.write_all when imported: not the one patched here)

        def full(_fd, _data):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(files, "write_all", full)
    else:

        def cross_device(_source, _destination):
            raise OSError(18, "Invalid cross-device link")

        monkeypatch.setattr(metrics.os, "replace", cross_device)
    result = run_here(capsys, "list", "--textfile", folder / "usercert.prom")
    assert (
        result.returncode != 0 and result.stderr.count("error:") == 1 and "hint:" in result.stderr
    )
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert tree(folder) == ["usercert.prom"] and (folder / "usercert.prom").read_text() == previous


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--textfile", "nowhere/u.prom"], "its folder"),
        (["--textfile", "."], "it is a folder"),
        (["--textfile", ""], "names no file"),
        (["--textfile", "sub/"], "names no file"),
        (["-o", "json", "--textfile", "u.prom"], "--textfile writes -o prometheus metrics"),
    ],
)
def test_textfile_refusals_are_one_line(capsys, isolated, args, needle):
    result = run_here(capsys, "list", *args)
    assert result.returncode == 2 and needle in result.stderr and "hint:" in result.stderr
    assert not os.path.exists("u.prom")


def test_a_file_that_holds_no_metrics_is_not_replaced(capsys, isolated):
    with open("ledger.jsonl", "w") as handle:
        handle.write('{"event": "issued"}\n')
    os.symlink("ledger.jsonl", "link.prom")
    for path in ("ledger.jsonl", "link.prom"):
        result = run_here(capsys, "list", "--textfile", path)
        assert result.returncode == 3 and "holds no metrics this tool wrote" in result.stderr
    assert open("ledger.jsonl").read() == '{"event": "issued"}\n' and os.path.islink("link.prom")
    open("empty.prom", "w").close()
    assert run_here(capsys, "list", "--textfile", "empty.prom").returncode == 0
    assert (
        run_here(capsys, "list", "--textfile", "empty.prom").returncode == 0
    )  # its own file, again
    assert (
        open("empty.prom")
        .read()
        .startswith("# HELP usercert_certificate_expiry_timestamp_seconds ")
    )


def test_list_help_shows_textfile_not_a_redirect(capsys):
    shown = run_here(capsys, "list", "--help")
    assert "list --textfile /var/lib/node_exporter/textfile/usercert.prom" in shown.stdout
    assert "-o prometheus >" not in shown.stdout
