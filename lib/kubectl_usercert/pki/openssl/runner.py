"""Running openssl: which one (checked once to be supported), with what environment, and what its
failures say.

Every call runs through the one process runner (process.py: a list of arguments, stdin closed or
fed through a pipe, stopped by a signal); children get SSL_CERT_FILE/SSL_CERT_DIR pointing at
nothing: no command here needs the system's CA bundle, and loading it costs more than the work
itself.
"""

import functools
import os
import re
import shutil
from dataclasses import dataclass
from typing import Tuple

from ... import process
from ...errors import InvalidInput, ToolMissing, UsercertError
from ...store import usercache

OPENSSL_ENV = "USERCERT_OPENSSL"
SUPPORTED = "OpenSSL 1.1.1 or newer, or LibreSSL 3.3.6 or newer"
_MINIMUM = {"OpenSSL": (1, 1, 1), "LibreSSL": (3, 3, 6)}
_NO_SYSTEM_CAS = {"SSL_CERT_FILE": os.devnull, "SSL_CERT_DIR": os.path.join(os.devnull, "none")}


def _binary():
    """openssl as USERCERT_OPENSSL names it, else the first on PATH (looked up now, not at import)."""
    named = os.environ.get(OPENSSL_ENV)
    if named:
        if not (os.path.isfile(named) and os.access(named, os.X_OK)):
            raise ToolMissing(
                f"{OPENSSL_ENV} names {named}, which is not an executable file",
                hint=f"point {OPENSSL_ENV} at an openssl binary, or unset it",
            )
        return named
    path = shutil.which("openssl")
    if not path:
        raise ToolMissing(
            "openssl was not found on PATH",
            hint=f"install {SUPPORTED} (apt-get install openssl, brew install openssl@3)",
        )
    return path


def _openssl():
    """openssl's path, checked once per run to be a supported one before its first use."""
    path = _binary()
    flavour()
    return path


def run(args, what, stdin=None, cwd=None):
    """Run openssl with `args` (and `stdin` bytes, else a closed stdin); return its stdout.

    `what` says what failed, in the user's terms; openssl's own complaint comes with it.
    """
    done = attempt(args, stdin=stdin, cwd=cwd)
    if not done.ok:
        raise UsercertError(
            f"openssl could not {what}", details=complaint(done.err), hint=hint_for(done.err)
        )
    return done.out


def attempt(args, *, stdin=None, cwd=None):
    """Run openssl with `args`; its process.Result whatever the exit code (the caller reads it)."""
    return process.run([_openssl(), *args], stdin=stdin, env=_NO_SYSTEM_CAS, cwd=cwd)


def start(args):
    """openssl with `args`, started in the background: a process.Running (see making.PendingKey)."""
    return process.start([_openssl(), *args], env=_NO_SYSTEM_CAS)


def complaint(stderr):
    """The lines of openssl's stderr that say what was wrong: error-stack lines shortened to their
    reason, and no usage text (an unknown option makes openssl print its whole usage)."""
    said = []
    for line in (stderr or "").splitlines():
        stripped = line.strip()
        if re.match(r"(?i)usage:", stripped) or stripped.startswith(
            ("Valid options", "General options")
        ):
            break
        error = re.match(r"[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):", stripped)
        shown = error.group(1) if error else stripped
        if shown and not stripped.startswith("-") and shown not in said:
            said.append(shown)
    return "\n".join(said[:3]) or None


def hint_for(stderr):
    if not re.search(
        r"unknown option|unknown command|invalid command|[Aa]lgorithm .* not found", stderr or ""
    ):
        return None
    try:
        found = flavour().text
    except UsercertError:
        found = "the openssl on PATH"
    return f"{found} lacks something this tool needs; use {SUPPORTED}"


# --- which openssl ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Flavour:
    name: str  # OpenSSL or LibreSSL
    version: Tuple[int, ...]
    text: str  # as `openssl version` says it, and where it is

    @property
    def is_libressl(self):
        return self.name == "LibreSSL"

    @property
    def has_ed25519(self):
        return not self.is_libressl or self.version >= (3, 7, 0)

    @property
    def has_partial_chain(self):
        return not self.is_libressl


def flavour():
    """Which openssl is on PATH, checked to be one this tool supports."""
    return _flavour(_binary())


@functools.lru_cache(maxsize=None)
def _flavour(executable):
    said = usercache.remembered("openssl-version", executable) or _version_text()
    match = re.match(r"(OpenSSL|LibreSSL) (\d+)\.(\d+)\.(\d+)", said)
    shown = f"{said.split('(')[0].strip()} at {executable}"
    if not match:
        raise ToolMissing(
            f"{executable} is not a supported openssl ({said.strip()[:60]!r})",
            hint=f"put {SUPPORTED} first on PATH",
        )
    found = Flavour(match.group(1), tuple(int(part) for part in match.groups()[1:]), shown)
    if found.version < _MINIMUM[found.name]:
        raise ToolMissing(f"{shown} is too old", hint=f"put {SUPPORTED} first on PATH")
    usercache.remember("openssl-version", executable, said)
    return found


def _version_text():
    done = process.run([_binary(), "version"], env=_NO_SYSTEM_CAS)
    return done.out.strip() if done.ok else (done.err.strip() or "no answer to `openssl version`")


def require_key_support(spec):
    """Refuse up front an unsupported openssl, or a key it cannot make, rather than half way."""
    if not flavour().has_ed25519 and spec.type == "ed25519":
        raise InvalidInput(
            f"{flavour().text} cannot make Ed25519 keys",
            hint=f"use --key-type ecdsa, or OpenSSL 3: put it first on PATH or name it in {OPENSSL_ENV} "
            "(macOS: brew install openssl@3)",
        )


def passin_args(passphrase_file):
    # An empty passphrase keeps openssl from prompting on the terminal for an encrypted key.
    return ["-passin", f"file:{passphrase_file}" if passphrase_file else "pass:"]
