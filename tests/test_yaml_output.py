"""The YAML this tool writes (kubeconfigs, -o yaml, --print-rbac, rbac.yaml) reads back as exactly the
strings written: by PyYAML (its safe loader, the YAML 1.1 reader) over every scalar shape YAML 1.1
resolves, and by real kubectl (go-yaml), which also reads `y`, `+.5`, `1e3` and `0o17` as
booleans and numbers."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SDK_BIN, default_kubectl
from helpers import EC, SERVER, ca_args, run_cli, whoami
from kubectl_usercert.cluster import user_kubeconfig as userconfig
from kubectl_usercert.cluster.endpoint import ClusterEndpoint
from kubectl_usercert.errors import InvalidInput
from kubectl_usercert.output import yamltext

KUBECTLS = [pytest.param(Path(default_kubectl()), id="kubectl")] + [
    pytest.param(SDK_BIN / f"kubectl.1.{minor}", id=f"1.{minor}")
    for minor in range(27, 34)
    if (SDK_BIN / f"kubectl.1.{minor}").exists()
]

# The shapes the issue names, each read as a number, bool, null, timestamp or merge key by some reader.
KNOWN = [
    ".5",
    "+.5",
    "-.5",
    ".5e+3",
    ".5e3",
    "1e3",
    "1E3",
    "1e+3",
    "1.",
    "0x1F",
    "0X1f",
    "0o17",
    "0O17",
    "017",
    "0b101",
    "1_000",
    "0x_1F",
    "+1",
    "-0",
    "190:20:30",
    "-190:20:30.5",
    ".inf",
    "-.inf",
    "+.INF",
    ".NaN",
    "~",
    "null",
    "Null",
    "NULL",
    "y",
    "Y",
    "n",
    "N",
    "yes",
    "No",
    "ON",
    "off",
    "True",
    "FALSE",
    "2024-01-02",
    "2024-1-2",
    "2024-01-02T03:04:05Z",
    "2024-01-02 03:04:05.5 +01:00",
    "2024-1-2t3:04:05",
    "<<",
    "=",
    "12345678901234567890123",
    "0xFFFFFFFFFFFFFFFFFFFF",
    "-",
    "?",
    "#a",
    "!a",
    "&a",
    "*a",
    "@a",
    "%a",
    "a: b",
    "a #b",
    " a",
    "a ",
    "---",
    "...",
    "{a}",
    "[a]",
    "'",
    '"',
    "a\nb",
    "a\rb",
    "a\x85b",
    "a\u2028b",
    "tab\there",
    "système",
    "\U0001f600",
]


def _with_underscores(digits):
    return st.integers(0, len(digits) - 1).map(lambda at: digits[: at + 1] + "_" + digits[at + 1 :])


_sign = st.sampled_from(["", "+", "-"])
_integers = st.integers(0, 2**70).flatmap(
    lambda n: st.sampled_from(
        [
            str(n),
            f"0x{n:x}",
            f"0X{n:X}",
            f"0o{n:o}",
            f"0{n:o}",
            f"0b{n:b}",
            f"{n:,}".replace(",", "_"),
        ]
    )
)
_integers = st.one_of(_integers, st.integers(0, 10**9).map(str).flatmap(_with_underscores))
_floats = st.tuples(
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.sampled_from(["", "e3", "e+3", "E-3", "e03"]),
    st.sampled_from(["{a}.{b}{e}", ".{b}{e}", "{a}.{e}", "{a}{e}"]),
).map(lambda t: t[3].format(a=t[0], b=t[1], e=t[2]))
_specials = st.sampled_from([".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"])
_numbers = st.tuples(_sign, st.one_of(_integers, _floats, _specials)).map("".join)
_sexagesimal = st.tuples(
    _sign,
    st.integers(1, 999),
    st.lists(st.integers(0, 59), min_size=1, max_size=3),
    st.sampled_from(["", ".5", "."]),
).map(lambda t: t[0] + str(t[1]) + "".join(f":{part:02d}" for part in t[2]) + t[3])
_words = st.sampled_from(
    ["y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "<<", "=", ""]
).flatmap(lambda word: st.sampled_from([word, word.upper(), word.capitalize()]))
_dates = st.tuples(
    st.integers(1000, 9999),
    st.integers(1, 12),
    st.integers(1, 28),
    st.sampled_from(
        ["", "T03:04:05Z", "t3:04:05", " 03:04:05.123 +01:00", "T03:04:05-05:30", " 3:04:05"]
    ),
    st.booleans(),
).map(lambda t: (f"{t[0]}-{t[1]:02d}-{t[2]:02d}" if t[4] else f"{t[0]}-{t[1]}-{t[2]}") + t[3])
SHAPES = st.one_of(
    st.sampled_from(KNOWN), _numbers, _sexagesimal, _words, _dates, st.text(max_size=12)
)

# The oracle: PyYAML's safe loader over libyaml's parser where PyYAML has it (as the tool's own reader
# does), ten times quicker than its parser in Python; the same resolver (YAML 1.1) and constructor.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(text):
    return yaml.load(text, Loader=_LOADER)


def _read_all(text):
    return list(yaml.load_all(text, Loader=_LOADER))


@settings(max_examples=1500)
@given(
    SHAPES,
    st.recursive(
        st.none() | st.booleans() | st.integers() | SHAPES,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SHAPES, inner, max_size=4),
        max_leaves=12,
    ),
)
@pytest.mark.cost(6)
def test_every_yaml_1_1_scalar_shape_reads_back_as_written(shape, document):
    for pure in (False, True):  # libyaml's emitter, and PyYAML's own (the zipapp's)
        assert _read(yamltext.dump(shape, pure)) == shape
        for written in ({shape: shape, "list": [shape, {"user": shape}]}, document):
            assert _read(yamltext.dump(written, pure)) == written
        both = [document, {"k": shape}]
        assert _read_all(yamltext.dump_all(both, pure)) == both


def test_long_values_stay_on_one_line():
    data = "QUJD" * 5000
    for pure in (False, True):
        assert (
            yamltext.dump({"client-certificate-data": data}, pure)
            == f"client-certificate-data: {data}\n"
        )


def _kubeconfig_named(names, folder, pure=False):
    """One kubeconfig holding a cluster, a user and a context for each name, written as the tool writes them."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [],
        "preferences": {},
    }
    for name in names:
        built = userconfig.build(ClusterEndpoint(name, SERVER), name, b"cert")
        for section in ("clusters", "users"):
            config[section] += built[section]
        config["contexts"].append({"name": name, "context": {"cluster": name, "user": name}})
    config["current-context"] = names[0]
    path = folder / f"kubeconfig{'-pure' if pure else ''}"
    path.write_text(yamltext.dump(config, pure), encoding="utf-8")
    return path


def _names_kubectl_reads(binary, path):
    result = subprocess.run(
        [str(binary), "config", "view", "--kubeconfig", str(path), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    return {
        section: [entry["name"] for entry in view[section]]
        for section in ("clusters", "users", "contexts")
    }


@pytest.mark.parametrize("binary", KUBECTLS)
def test_kubectl_reads_back_every_name_as_written(binary, tmp_path):
    names = [name for name in KNOWN if name]  # (an empty name is no name to kubectl)
    for pure in (False, True):
        path = _kubeconfig_named(names, tmp_path, pure)
        read = _names_kubectl_reads(binary, path)
        assert read == {
            "clusters": sorted(names),
            "users": sorted(names),
            "contexts": sorted(names),
        }
    one = subprocess.run(
        [
            str(binary),
            "config",
            "view",
            "--kubeconfig",
            str(path),
            "-o",
            'jsonpath={.users[?(@.name==".5")].name}',
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert one.returncode == 0 and one.stdout == ".5", one.stderr


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.one_of(
            _numbers,
            _sexagesimal,
            _words,
            _dates,
            st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=8),
        ).filter(bool),
        min_size=10,
        max_size=40,
        unique=True,
    )
)
def test_kubectl_reads_back_generated_names(tmp_path_factory, names):
    path = _kubeconfig_named(names, tmp_path_factory.mktemp("names"))
    assert _names_kubectl_reads(default_kubectl(), path) == {
        section: sorted(names) for section in ("clusters", "users", "contexts")
    }


def test_a_user_named_like_a_number_gets_a_kubeconfig_kubectl_loads(live_cluster, isolated):
    """`create .5 -g .7` wrote `user: .5`, which kubectl refused: cannot unmarshal number into string."""
    admin = yaml.safe_load(live_cluster.admin_kubeconfig.read_text())
    admin["clusters"][0]["name"] = admin["contexts"][0]["context"]["cluster"] = "0o17"
    renamed = Path("admin.kubeconfig")
    renamed.write_text(json.dumps(admin))
    os.chmod(renamed, 0o600)
    for user, groups in ((".5", [".7", "y"]), ("1e3", ["2024-01-02", "~"])):
        made = run_cli(
            "create",
            user,
            *[arg for group in groups for arg in ("-g", group)],
            *EC,
            *live_cluster.ca_args,
            "--kubeconfig",
            renamed,
            "-o",
            "jsonpath={.status.kubeconfig}",
        )
        assert made.returncode == 0, made.stderr
        kubeconfig = made.stdout
        info = whoami(live_cluster, kubeconfig)
        assert info["username"] == user and info["groups"][:2] == groups
        view = live_cluster.kubectl(
            kubeconfig, "config", "view", "-o", "jsonpath={.users[0].name} {.clusters[0].name}"
        )
        assert view.returncode == 0 and view.stdout == f"{user} 0o17", view.stderr


def test_print_rbac_and_o_yaml_read_back(capsys, signing_ca, isolated):
    made = run_cli(
        "create",
        "+.5",
        "-g",
        "on",
        *EC,
        *ca_args(signing_ca),
        "--server",
        SERVER,
        "--clusterrole",
        "1e3",
        "--print-rbac",
    )
    assert made.returncode == 0, made.stderr
    manifests = list(yaml.safe_load_all(made.stdout))
    assert [m["subjects"][0]["name"] for m in manifests] == ["+.5"] and manifests[0]["roleRef"][
        "name"
    ] == "1e3"
    assert "'+.5'" in made.stdout
    listed = run_cli("list", "-o", "yaml")
    assert yaml.safe_load(listed.stdout)["items"][0]["spec"] == {"user": "+.5", "groups": ["on"]}


def test_bytes_that_are_not_utf8_are_refused_not_written(signing_ca, isolated):
    """The old writer escaped them (\\udcff), which kubectl refuses; libyaml's emitter raised."""
    for pure in (False, True):
        with pytest.raises(InvalidInput, match="not UTF-8"):
            yamltext.dump({"namespace": "ns\udcff"}, pure)
    made = run_cli(
        "create", "carol", *EC, *ca_args(signing_ca), "--server", SERVER, "-n", "ns\udcff", "-q"
    )
    assert (
        made.returncode == 2 and "error: 'ns\\udcff' holds bytes that are not UTF-8" in made.stderr
    )
    assert len(made.stderr.splitlines()) == 2 and not os.path.exists("clients/carol")
