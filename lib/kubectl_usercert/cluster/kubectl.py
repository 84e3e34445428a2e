"""The only module that runs kubectl.

`Kubectl` is one value for "which cluster, as whom, how long to wait": a kubeconfig, a context, a
cluster and a timeout, built once from the command's switches and carried by every request.
kubectl runs with that kubeconfig and context, so every auth method kubectl knows (exec plugins,
OIDC, tokens) works without this tool knowing about it. `USERCERT_KUBECTL` names another
kubectl binary (e.g. a versioned one). `checked` is the one place kubectl's failures become
errors in the user's terms; `json` also refuses an answer that is not a JSON object.
"""

import json
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Optional

from .. import process
from ..errors import InvalidInput, ToolMissing, UsercertError

KUBECTL_ENV = "USERCERT_KUBECTL"
DEFAULT_TIMEOUT = 30.0


def _binary():
    name = os.environ.get(KUBECTL_ENV) or "kubectl"
    path = shutil.which(name)
    if not path:
        raise ToolMissing(
            f"kubectl was not found ({name})", hint=f"install kubectl, or point {KUBECTL_ENV} at it"
        )
    return path


@dataclass(frozen=True, eq=False, repr=False)
class KubectlResult:
    code: int
    stdout: str
    stderr: str

    @property
    def ok(self):
        return self.code == 0

    def json_object(self):
        """stdout as the JSON object kubectl prints with -o json; None when it is not one (every
        reader of kubectl's JSON goes through here)."""
        try:
            answer = json.loads(self.stdout)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None


@dataclass(frozen=True, eq=False, repr=False)
class Kubectl:
    """kubectl bound to one kubeconfig and context; None means kubectl's own defaults."""

    kubeconfig: Optional[str] = None
    context: Optional[str] = None
    cluster: Optional[str] = None
    timeout: float = DEFAULT_TIMEOUT

    def as_user(self, kubeconfig):
        """The same timeout, with a user's own kubeconfig and its current context."""
        return replace(self, kubeconfig=kubeconfig, context=None, cluster=None)

    def _global_args(self, timeout=True):
        args = []
        if self.kubeconfig:
            args += ["--kubeconfig", self.kubeconfig]
        if self.context:
            args += ["--context", self.context]
        if self.cluster:
            args += ["--cluster", self.cluster]
        return args + ([f"--request-timeout={int(max(1, self.timeout))}s"] if timeout else [])

    @contextmanager
    def watch(self, args, idle=0.2):
        """A long-running kubectl (`get --watch -o json --output-watch-events`), with no request
        timeout: yields an iterator of the JSON objects it prints, as they come, and None after
        `idle` seconds of quiet (the caller acts between two); it ends when kubectl exits, whose
        KubectlResult `.result` then holds. Leaving the with-block stops kubectl."""
        child = process.start([_binary(), *self._global_args(False), "--request-timeout=0", *args])
        stream = _JSONStream(child, idle)
        with child:
            yield stream

    def run(self, args, text=None):
        """Run kubectl (stdin: `text`, else closed); return its result whatever the exit code."""
        try:
            done = process.run(
                [_binary(), *self._global_args(), *args],
                timeout=self.timeout + 5,
                stdin=None if text is None else text.encode("utf-8"),
            )
        except process.TimedOut:
            raise UsercertError(
                f"kubectl did not answer within {self.timeout:g}s (kubectl {' '.join(args[:3])})",
                hint="check that the cluster is reachable, or raise --timeout",
            ) from None
        return KubectlResult(done.code, done.out, done.err)

    def checked(self, args, what, text=None, hints=None):
        """Run kubectl; raise an error in the user's terms (with kubectl's message) when it fails.
        `hints` ({kind: hint}) says more for this call (see `failure`)."""
        result = self.run(args, text)
        if not result.ok:
            raise failure(what, result.stderr, hints)
        return result

    def json(self, args, what, allow_empty=False):
        """kubectl's JSON answer as a mapping; an answer that is none is an error too (no answer at all
        is None when `allow_empty`, for --ignore-not-found)."""
        result = self.checked(args, what)
        if allow_empty and not result.stdout.strip():
            return None
        answer = result.json_object()
        if answer is None:
            error = UsercertError(
                f"kubectl's answer when asked to {what} is not a JSON object",
                details=result.stdout.strip()[:200] or "(empty)",
                hint=f"check kubectl itself (kubectl version; {KUBECTL_ENV} picks another)",
            )
            error.kind = "garbled"  # (its answer stays out of result fields: see summary)
            raise error
        return answer


class _JSONStream:
    """The JSON objects a kubectl prints one after another (indented, so not one a line)."""

    def __init__(self, child, idle):
        self.child, self.idle, self.result = child, idle, None

    def __iter__(self):
        decoder, text, raw = json.JSONDecoder(), "", b""
        for chunk in self.child.chunks(self.idle):
            if chunk is None:
                yield None
                continue
            raw += chunk
            try:
                text, raw = text + raw.decode("utf-8"), b""
            except UnicodeDecodeError:
                continue  # a character cut between two reads: wait for its end
            while True:
                text = text.lstrip()
                if text and not text.startswith("{"):  # not an object: skip to the next one
                    text = text[text.find("{") :] if "{" in text else ""
                try:
                    value, end = decoder.raw_decode(text)
                except ValueError:
                    break
                text = text[end:]
                if isinstance(value, dict):
                    yield value
        done = self.child.finish(self.idle + 5)
        self.result = KubectlResult(done.code, done.out, done.err)


# What kubectl's (client-go's) messages mean, most specific first: (pattern, kind).
_KINDS = (
    (r"Unauthorized|You must be logged in", "unauthorized"),
    (r"\(Forbidden\)|is forbidden|forbidden:", "forbidden"),
    (r"\(AlreadyExists\)|already exists", "exists"),
    # (before "missing": an unreachable server also makes kubectl say it lacks the resource type)
    (r"The connection to the server .* was refused", "unreachable"),
    # (before "missing" too: kubectl names a context its kubeconfig lacks "not found")
    (r"context was not found for specified context", "config"),
    (
        r"\(NotFound\)|not found|could not find the requested resource|doesn't have a resource type",
        "missing",
    ),
    (r"\(Invalid\)|is invalid", "invalid"),
    (
        r"connection refused|no such host|i/o timeout|Client.Timeout|dial tcp|unable to connect|"
        r"context deadline exceeded|TLS handshake|certificate signed by unknown authority|EOF",
        "unreachable",
    ),
    (
        r"error loading config|invalid configuration|no configuration has been provided|context was not found|"
        r"cluster .* not found|yaml:|json:",
        "config",
    ),
)
_HINTS = {
    "unauthorized": "the cluster did not accept your credentials; check --kubeconfig and --context",
    "forbidden": "your kubeconfig's user lacks the permission named above; ask a cluster admin, or use --context",
    "unreachable": "check that the cluster is reachable from here (and --timeout)",
    "config": "check the kubeconfig: kubectl config view (and --kubeconfig, --context)",
}


def kind_of(stderr):
    for pattern, kind in _KINDS:
        if re.search(pattern, stderr or ""):
            return kind
    return "failed"


def failure(what, stderr, hints=None):
    """The error for a failed kubectl run: what we tried, kubectl's last line, a hint by its kind.
    `hints` adds or overrides hints for one caller ({kind: hint})."""
    kind = kind_of(stderr)
    hint = {**_HINTS, **(hints or {})}.get(kind)
    error_type = InvalidInput if kind == "config" else UsercertError
    error = error_type(f"kubectl could not {what}", details=last_error_line(stderr), hint=hint)
    error.kind = kind
    return error


# A kubectl failure in this tool's words, by its kind: what goes into machine-readable fields, where
# kubectl's own message (prose that changes between versions) does not.
_KIND_WORDS = {
    "unauthorized": "the cluster did not accept the credentials",
    "forbidden": "not permitted (RBAC)",
    "exists": "it exists already",
    "missing": "not found",
    "invalid": "refused as invalid",
    "unreachable": "the cluster could not be reached",
    "config": "the kubeconfig is not usable",
}


def summary(exc):
    """An error as one line for a result field: a kubectl failure as what was tried and what kind of
    failure it was; any other error with its details (openssl's complaint, say)."""
    kind = getattr(exc, "kind", None)
    if kind == "garbled":
        return exc.message
    if kind is not None:
        return f"{exc.message}: {_KIND_WORDS.get(kind, 'it failed')}"
    return exc.message + (f" ({exc.details})" if exc.details else "")


def last_error_line(stderr):
    lines = [line for line in (stderr or "").splitlines() if line.strip()]
    return lines[-1] if lines else None
