"""Kubeconfigs as kubectl reads them: the loading rules, the merge, and kubectl's types.

Loading follows client-go's clientcmd: `--kubeconfig FILE` alone (it must exist), else every file
in KUBECONFIG (missing ones skipped, the first definition of a name wins), else ~/.kube/config.
Values are type-checked as client-go's v1 types would decode them, so what kubectl refuses
(`insecure-skip-tls-verify: "false"`, `server: 12345`) is refused here too, never copied into a
user's kubeconfig. What is read is bounded: a file's size, and the expansion of YAML aliases.
"""

import base64
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ..errors import InvalidInput
from ..output import yamltext
from ..store.files import read_input

MAX_BYTES = 8 << 20
# What kubectl reads in a kubeconfig but cannot write back (`kubectl config view` fails with "yaml:
# control characters are not allowed"): DEL, the C1 controls but NEL, and the two non-characters.
_UNCARRIED = re.compile("[\x7f-\x84\x86-\x9f\ufffe\uffff]")


def uncarried_character(text):
    """The first character of `text` that kubectl cannot carry in a kubeconfig, escaped (or None)."""
    found = _UNCARRIED.search(text)
    return repr(found.group(0))[1:-1] if found else None


# The fields this tool reads, with the type client-go gives them (str, bool, or base64 bytes).
CLUSTER_FIELDS = {
    "server": str,
    "tls-server-name": str,
    "proxy-url": str,
    "certificate-authority": str,
    "certificate-authority-data": bytes,
    "insecure-skip-tls-verify": bool,
    "disable-compression": bool,
}
USER_FIELDS = {
    "client-certificate": str,
    "client-certificate-data": bytes,
    "client-key": str,
    "client-key-data": bytes,
    "token": str,
    "tokenFile": str,
    "username": str,
    "password": str,
}
CONTEXT_FIELDS = {"cluster": str, "user": str, "namespace": str}
SECRET_FIELDS = ("token", "password")  # a value never shown, even when it is mistyped


@dataclass
class MergedKubeconfig:
    files: List[str]
    clusters: Dict[str, dict] = field(default_factory=dict)
    contexts: Dict[str, dict] = field(default_factory=dict)
    users: Dict[str, dict] = field(default_factory=dict)
    current_context: Optional[str] = None
    # Folder of the file each entry came from: relative paths resolve against it.
    folders: Dict[str, str] = field(default_factory=dict)  # "clusters/NAME" -> folder


def kubeconfig_paths(explicit=None, environ=None):
    """The files kubectl would read, in precedence order (only existing ones)."""
    environ = os.environ if environ is None else environ
    if explicit:
        if not os.path.isfile(explicit):
            raise InvalidInput(
                f"the kubeconfig {explicit} does not exist", hint="check --kubeconfig"
            )
        return [explicit]
    if environ.get("KUBECONFIG"):
        seen, paths = set(), []
        for path in environ["KUBECONFIG"].split(os.pathsep):
            if path and path not in seen and os.path.isfile(path):
                seen.add(path)
                paths.append(path)
        return paths
    home = environ.get("HOME") or os.path.expanduser("~")
    default = os.path.join(home, ".kube", "config")
    return [default] if os.path.isfile(default) else []


def load_merged(paths):
    merged = MergedKubeconfig(files=list(paths))
    for path in paths:
        document = read_document(path)
        folder = os.path.dirname(os.path.abspath(path))
        for kind, fields_of in (
            ("clusters", CLUSTER_FIELDS),
            ("contexts", CONTEXT_FIELDS),
            ("users", USER_FIELDS),
        ):
            target = getattr(merged, kind)
            for name, entry in named_entries(document, kind, fields_of, path):
                if name not in target:
                    target[name] = entry
                    merged.folders[f"{kind}/{name}"] = folder
        current = _typed(document, "current-context", str, path)
        if merged.current_context is None and current:
            merged.current_context = current
    return merged


def read_document(path):
    """A kubeconfig file as a mapping: bounded in size and alias expansion, or a one-line error."""
    check = f"check it with: kubectl config view --kubeconfig {path}"
    data = read_input(path, "the kubeconfig", check, MAX_BYTES)
    try:
        document = yamltext.load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(f"the kubeconfig {path} is not UTF-8 text", hint=check) from None
    except (
        Exception
    ) as exc:  # yaml.YAMLError, RecursionError: not imported here, so PyYAML loads only on use
        if not (yamltext.is_error(exc) or isinstance(exc, RecursionError)):
            raise
        raise InvalidInput(
            f"the kubeconfig {path} is not valid YAML{yamltext.error_line(exc)}", hint=check
        ) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise InvalidInput(
            f"the kubeconfig {path} is not a kubeconfig (not a YAML mapping)", hint=check
        )
    if yamltext.expanded_size(document) > yamltext.MAX_NODES:
        raise InvalidInput(
            f"the kubeconfig {path} expands to too much data (YAML aliases)", hint=check
        )
    return document


def named_entries(document, kind, fields_of, path):
    entries = document.get(kind)
    if entries is None:
        return []
    what = f"the kubeconfig {path}"
    if not isinstance(entries, list):
        raise InvalidInput(
            f"{what}: {kind} is not a list",
            hint=f"check it with: kubectl config view --kubeconfig {path}",
        )
    named = []
    for entry in entries:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not entry["name"]
        ):
            raise InvalidInput(
                f"{what}: an entry of {kind} has no name",
                hint=f"every entry needs a name; check it with: kubectl config view --kubeconfig {path}",
            )
        if any(
            name == entry["name"] for name, _ in named
        ):  # client-go: "duplicate name ... in list"
            raise InvalidInput(
                f'{what}: two {kind} are named "{entry["name"]}"',
                hint="kubectl refuses the whole file for it (duplicate name in list); rename or remove one",
            )
        body = entry.get(kind[:-1])
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise InvalidInput(
                f'{what}: {kind[:-1]} "{entry["name"]}" is not a mapping',
                hint=f"check it with: kubectl config view --kubeconfig {path}",
            )
        for key, expected in fields_of.items():
            _typed(body, key, expected, f'{path} ({kind[:-1]} "{entry["name"]}")')
        named.append((entry["name"], body))
    return named


def _typed(mapping, key, expected, where):
    """The value of `key` if it has the type client-go decodes it into; None if absent."""
    value = mapping.get(key)
    if value is None:
        return None
    if expected is bytes:
        if not isinstance(value, str) or not _is_base64(value):
            raise InvalidInput(
                f"{where}: {key} is not base64 data",
                hint="check it with: kubectl config view --raw",
            )
        return value
    if not isinstance(value, expected) or (expected is str and isinstance(value, bool)):
        shown = "true or false" if expected is bool else "a string"
        said = "" if key in SECRET_FIELDS else f" {str(value)[:40]!r}"
        raise InvalidInput(
            f"{where}: {key} is {type(value).__name__}{said}, not {shown}",
            hint="kubectl refuses this file too; fix the value (quotes make YAML strings)",
        )
    return value


# Go's base64.StdEncoding, as encoding/json decodes a []byte field: padded, the standard alphabet, and
# line breaks (\r, \n) skipped anywhere; any other character (a space, a tab) is refused.
_GO_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def _is_base64(text):
    return bool(_GO_BASE64.fullmatch(text.replace("\r", "").replace("\n", "")))


def decode_data(value):
    return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
