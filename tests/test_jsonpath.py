"""-o jsonpath prints what kubectl prints for the same data: kubectl itself is the oracle.

kubectl applies a template to a local object with no cluster through `kubectl patch --local -f
BASE --type json -p PATCH -o jsonpath=TEMPLATE`: BASE holds apiVersion, kind and metadata, and the
JSON patch adds every other field as it is (nulls included; a top-level `items` makes it a list,
as `kubectl get` shows one). The tool's renderer is given the object exactly as kubectl decoded it
(its `-o json` of the same patch), so both read the same numbers.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import EC, SERVER, ca_args, run_cli, run_here
from kubectl_usercert.errors import InvalidInput
from kubectl_usercert.output import jsonpath

KUBECTL = shutil.which("kubectl", path="/usr/bin") or shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")
# Go ranges over a map in random order: what `.*` and `..` find in a map comes in any order there
RANDOM_ORDER = ("..", ".*")


class Kubectl:
    def __init__(self, folder):
        self.folder = folder
        folder.mkdir(exist_ok=True)
        self._decoded = {}

    @staticmethod
    def _input(obj):
        """The base file's text and the JSON patch: all kubectl is given of `obj`."""
        base = {key: obj[key] for key in ("apiVersion", "kind", "metadata") if key in obj}
        patch = [
            {"op": "add", "path": "/" + key.replace("~", "~0").replace("/", "~1"), "value": value}
            for key, value in obj.items()
            if key not in base
        ]
        return json.dumps(base), json.dumps(patch)

    def _patch(self, obj, *output):
        base, patch = self._input(obj)
        (self.folder / "base.json").write_text(base)
        return subprocess.run(
            [
                KUBECTL,
                "patch",
                "--local",
                "-f",
                str(self.folder / "base.json"),
                "--type",
                "json",
                "-p",
                patch,
                "-o",
                *output,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "HOME": str(self.folder)},
            stdin=subprocess.DEVNULL,
        )

    def decoded(self, obj):
        """The object as kubectl holds it (its -o json): asked once for each input (the same object
        checked against several templates gets the same answer)."""
        given = self._input(obj)
        if given not in self._decoded:
            result = self._patch(obj, "json")
            assert result.returncode == 0, result.stderr
            self._decoded[given] = result.stdout
        return json.loads(self._decoded[given])

    def jsonpath(self, obj, template):
        """What kubectl prints, or None where it fails (a template it cannot read or execute)."""
        result = self._patch(obj, f"jsonpath={template}")
        return result.stdout if result.returncode == 0 else None


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory):
    if KUBECTL is None:
        pytest.skip("needs kubectl")
    return Kubectl(tmp_path_factory.mktemp("kubectl-jsonpath"))


def ours(template, data):
    try:
        return jsonpath.render(template, data)
    except InvalidInput:
        return None


def _alike(mine, theirs, template):
    """The same output, or (where Go's map order decides) the same values in another order."""
    if mine == theirs:
        return True
    random = any(m in template for m in RANDOM_ORDER)
    return random and mine is not None and theirs is not None and sorted(mine) == sorted(theirs)


ORDERS_TRIED = (
    12  # where Go's map order decides, kubectl is asked again (it may fail in one order only)
)


def assert_same(kubectl, obj, template, mine=None):
    """The tool prints what kubectl prints (`mine`: what the CLI printed, else the renderer on kubectl's
    data). Where the template walks a map (`..`, `.*`) kubectl's answer, and whether it fails, depends
    on Go's random map order: ours must be one of the answers kubectl gives."""
    mine = ours(template, kubectl.decoded(obj)) if mine is None else mine
    tries = ORDERS_TRIED if any(m in template for m in RANDOM_ORDER) else 1
    answers = []
    for _ in range(tries):
        answers.append(kubectl.jsonpath(obj, template))
        if _alike(mine, answers[-1], template):
            return
    assert mine == answers[0], (template, answers)


LISTED = {
    "apiVersion": "usercert.kubectl.io/v1alpha1",
    "kind": "UserCertificateList",
    "metadata": {"observedAt": "2026-01-01T00:00:00Z", "expiringWithin": None},
    "items": [
        {
            "apiVersion": "usercert.kubectl.io/v1alpha1",
            "kind": "UserCertificate",
            "metadata": {"name": name},
            "spec": {"user": name, "groups": groups},
            "status": {
                "state": state,
                "daysLeft": days,
                "keySize": 256,
                "kubeconfig": kubeconfig,
                "bindings": None,
                "server": "https://10.0.0.1:6443?a=<b>&c",
            },
        }
        for name, groups, state, days, kubeconfig in (
            ("alice", ["dev", "sre"], "valid", 300, "clients/alice/kubeconfig"),
            ("bob", [], "expiring", 12, "clients/bob/kubeconfig"),
            ("carol", ["dev"], "revoked", -3, None),
            ("dave é", ["a,b"], "expired", -40, None),
        )
    ],
    "warnings": ["one\ttab"],
}


@needs_kubectl
@pytest.mark.parametrize(
    "template",
    [
        '{.items[?(@.status.state=="valid")].metadata.name}',
        "{.items[?(@.status.state!='revoked')].spec.user}",
        "{.items[?(@.status.daysLeft<30)].metadata.name}",
        "{.items[?(@.status.daysLeft>=12)].metadata.name}",
        "{.items[?(@.status.kubeconfig)].metadata.name}",
        "{.items[?(@.spec.groups[0]=='dev')].metadata.name}",
        "{.items[0:2].metadata.name}",
        "{.items[-1:].metadata.name}",
        "{.items[::2].spec.user}",
        "{.items[1]}",
        "{.items[0,3].status.daysLeft}",
        "{.items[*]['metadata']}",
        "{..user}",
        "{..groups}",
        "{.metadata.*}",
        "{.items[0].spec}",
        "{.items[*].spec.groups}",
        "{.items[*].status.bindings}",
        "{.metadata.expiringWithin}",
        "{.nosuch}",
        "{.items[*].status.nosuch.deeper}",
        "{.items[0].status.server}",
        '{range .items[*]}{.spec.user}{"\\t"}{.status.daysLeft}{"\\n"}{end}',
        "{range .items[*]}{range .spec.groups[*]}[{@}]{end};{end}",
        "{range .items[?(@.status.daysLeft<0)]}{.metadata.name} {end}",
        "{range .warnings[*]}{@}{end}",
        "users: {.items[*].metadata.name} ({.kind})",
        "{.items[9]}",
        "{.items[?(@.status.daysLeft=='12')]}",
        "{.items[?(@.spec.groups=='dev')]}",
        "{end}",
        "{.items[}",
        "{.items[?(@.x)}",
        "{nosuch}",
        "{.items[::-1]}",
        "{.kind[0]}",
    ],
)
def test_templates_print_what_kubectl_prints(kubectl, template):
    assert_same(kubectl, LISTED, template)


# Random documents and templates. Keys are few so templates find things; `items` is left out at the
# top, where kubectl would read the object as a list.
KEYS = ("a", "b", "c.d", "x")
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False, width=64)
    | st.text(st.sampled_from("ab z<&é\"'\\\t"), max_size=5)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=12,
)
_documents = st.dictionaries(st.sampled_from(KEYS), _values, min_size=1, max_size=3).map(
    lambda fields: {
        "apiVersion": "example.com/v1",
        "kind": "Probe",
        "metadata": {"name": "p"},
        **fields,
    }
)

_key = st.sampled_from(["a", "b", "x", "c\\.d", "nosuch"])
_literal = st.sampled_from(['"a"', "'ab'", "1", "-2", "0.5", "true", "@.b"])
_step = st.one_of(
    _key.map(lambda key: "." + key),
    _key.map(lambda key: ".." + key),
    st.just(".*"),
    st.just("[*]"),
    st.integers(-3, 3).map(lambda i: f"[{i}]"),
    st.tuples(
        st.sampled_from(["", "0", "1", "-1", "-2"]),
        st.sampled_from(["", "1", "2", "-1"]),
        st.sampled_from(["", ":2"]),
    ).map(lambda p: f"[{p[0]}:{p[1]}{p[2]}]"),
    st.tuples(st.integers(-2, 2), st.integers(-2, 2)).map(lambda p: f"[{p[0]},{p[1]}]"),
    st.sampled_from(["['a']", "['c.d']"]),
    _key.map(lambda key: f"[?(@.{key})]"),
    st.tuples(_key, st.sampled_from(["==", "!=", "<", ">", "<=", ">="]), _literal).map(
        lambda f: f"[?(@.{f[0]}{f[1]}{f[2]})]"
    ),
)
_path = st.lists(_step, min_size=1, max_size=4).map("".join)
_action = st.one_of(
    _path.map(lambda path: "{" + path + "}"),
    st.just('{"\\t"}'),
    st.just("|"),
    st.just("{@}"),
    st.just("{5}"),
)
_template = st.one_of(
    st.lists(_action, min_size=1, max_size=3).map("".join),
    st.tuples(_path, st.lists(_action, min_size=1, max_size=2)).map(
        lambda r: "{range " + r[0] + "}" + "".join(r[1]) + "{end}"
    ),
)


@needs_kubectl
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=_documents, templates=st.lists(_template, min_size=1, max_size=3))
def test_any_template_prints_what_kubectl_prints(kubectl, document, templates):
    for template in templates:
        assert_same(kubectl, document, template)


def test_the_issues_examples_through_the_cli(capsys, signing_ca, kubectl):
    """list -o jsonpath with filters, slices, recursive descent, a missing key and a map, as kubectl has them."""
    for user, group in (("alice", "dev"), ("bob", "ops"), ("carol", "dev")):
        created = run_cli(
            "create", user, group, *EC, *ca_args(signing_ca), "--server", SERVER, "-q"
        )
        assert created.returncode == 0, created.stderr
    listed = json.loads(run_here(capsys, "list", "-o", "json").stdout)
    for template in (
        '{.items[?(@.status.state=="valid")].metadata.name}',
        "{.items[?(@.spec.groups[0]!='dev')].spec.user}",
        "{.items[?(@.status.daysLeft<400)].metadata.name}",
        "{.items[0:2].metadata.name}",
        "{.items[-1:].metadata.name}",
        "{..user}",
        "{.items[0].status.nosuch}",
        "{.items[0].spec}",
        '{range .items[*]}{.spec.user}{"\\t"}{.spec.groups}{"\\n"}{end}',
    ):
        result = run_here(capsys, "list", "-o", f"jsonpath={template}")
        assert result.returncode == 0, result.stderr
        assert_same(kubectl, listed, template, mine=result.stdout)
    spec = run_here(capsys, "list", "-o", "jsonpath={.items[0].spec}").stdout
    assert spec == json.dumps(
        listed["items"][0]["spec"], separators=(",", ":"), sort_keys=True
    )  # not a Python dict
    assert run_here(capsys, "list", "-o", "jsonpath={.items[0].status.nosuch}").stdout == ""


def test_a_template_kubectl_cannot_read_stops_the_command_before_it_does_anything(
    capsys, signing_ca
):
    result = run_here(
        capsys,
        "create",
        "alice",
        *EC,
        *ca_args(signing_ca),
        "--server",
        SERVER,
        "-o",
        "jsonpath={.status.kubeconfig[}",
    )
    assert result.returncode == 2
    assert (
        result.stderr.splitlines()[0]
        == "error: error parsing jsonpath {.status.kubeconfig[}, unterminated array"
    )
    assert result.stderr.splitlines()[1].startswith("hint: ")
    assert not Path("clients/alice").exists()
