"""The only module that runs kubectl.

kubectl runs with the admin's (or a user's) kubeconfig and context, so every auth method kubectl
knows (exec plugins, OIDC, tokens) works without this tool knowing about it. `USERCERT_KUBECTL`
names another kubectl binary (e.g. a versioned one).
"""

import functools
import json
import os
import subprocess
from dataclasses import dataclass
from typing import Optional

from plumbum import local
from plumbum.commands.processes import CommandNotFound, ProcessTimedOut

from .errors import ToolMissing, UsercertError

KUBECTL_ENV = "USERCERT_KUBECTL"


@functools.lru_cache(maxsize=None)
def _kubectl(path):
    try:
        return local[path]
    except CommandNotFound:
        raise ToolMissing(f"kubectl was not found ({path})",
                          hint=f"install kubectl, or point {KUBECTL_ENV} at it") from None


@dataclass(frozen=True)
class KubectlResult:
    code: int
    stdout: str
    stderr: str

    @property
    def ok(self):
        return self.code == 0

    def json(self):
        return json.loads(self.stdout)


@dataclass(frozen=True)
class Kubectl:
    """kubectl bound to one kubeconfig and context; None means kubectl's own defaults."""

    kubeconfig: Optional[str] = None
    context: Optional[str] = None
    cluster: Optional[str] = None
    timeout: float = 30.0

    def _global_args(self):
        args = []
        if self.kubeconfig:
            args += ["--kubeconfig", self.kubeconfig]
        if self.context:
            args += ["--context", self.context]
        if self.cluster:
            args += ["--cluster", self.cluster]
        return args + [f"--request-timeout={int(max(1, self.timeout))}s"]

    def run(self, args, text=None):
        """Run kubectl (stdin: `text`, else closed); return its result whatever the exit code."""
        command = _kubectl(os.environ.get(KUBECTL_ENV) or "kubectl")[self._global_args() + list(args)]
        try:
            if text is None:
                code, out, err = command.run(retcode=None, timeout=self.timeout + 5, stdin=subprocess.DEVNULL)
            else:
                code, out, err = (command << text).run(retcode=None, timeout=self.timeout + 5)
        except ProcessTimedOut:
            raise UsercertError(f"kubectl did not answer within {self.timeout:g}s (kubectl {' '.join(args[:3])})",
                                hint="check that the cluster is reachable, or raise --timeout") from None
        return KubectlResult(code, out, err)

    def checked(self, args, what):
        """Run kubectl and raise UsercertError (with kubectl's message) when it fails."""
        result = self.run(args)
        if not result.ok:
            raise UsercertError(f"kubectl could not {what}", details=last_error_line(result.stderr))
        return result


def last_error_line(stderr):
    lines = [line for line in (stderr or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


def is_unauthorized(stderr):
    return "Unauthorized" in (stderr or "") or "You must be logged in" in (stderr or "")


def is_missing_api(stderr):
    text = stderr or ""
    return "the server could not find the requested resource" in text or "NotFound" in text or \
        "doesn't have a resource type" in text

