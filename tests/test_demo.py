"""`kubectl usercert demo`: a newcomer's first run, with no cluster at hand."""

import json
import subprocess

from helpers import run_here


def test_demo_runs_to_the_end_and_its_kubeconfig_loads_in_kubectl(tmp_path, capsys):
    folder = tmp_path / "demo"
    result = run_here(capsys, "demo", "--dir", folder, "-o", "json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["kind"] == "Demo"
    certificate = record["status"]["certificate"]
    assert certificate["spec"]["user"] == "alice"
    assert (
        certificate["status"]["chainValid"] is True and certificate["status"]["keyMatches"] is True
    )
    view = subprocess.run(
        [
            "kubectl",
            "config",
            "view",
            "--kubeconfig",
            certificate["status"]["kubeconfig"],
            "--minify",
            "--raw",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(view.stdout)["current-context"] == "alice@demo"
    assert (
        "On a real cluster" in result.stderr
        and "kubectl usercert create alice developers" in result.stderr
    )


def test_demo_without_dir_uses_a_fresh_temporary_folder(capsys):
    first, second = (
        run_here(capsys, "demo", "-o", "json", "-q"),
        run_here(capsys, "demo", "-o", "json", "-q"),
    )
    assert first.returncode == 0 and second.returncode == 0
    assert (
        json.loads(first.stdout)["status"]["directory"]
        != json.loads(second.stdout)["status"]["directory"]
    )


def test_demo_refuses_a_folder_in_use(tmp_path, capsys):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "something").write_text("mine")
    result = run_here(capsys, "demo", "--dir", tmp_path / "busy")
    assert result.returncode == 3 and "not empty" in result.stderr
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["something"]
