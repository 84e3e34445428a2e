"""`list -o prometheus`: node_exporter textfile-collector metrics, so expiry lands on the dashboards
people already have, and `--textfile PATH`: that file written whole, as the collector needs it.

Values are Unix times, so nothing here changes with the clock. Several out-dirs (several clusters)
may write into one textfile folder, and node_exporter drops, without a word, every series another
file already had: so every series carries the out-dir it describes (and each certificate the server
its kubeconfig points at), and none is written twice.
"""

import os
import stat
import unicodedata

from .. import signals
from ..errors import InvalidInput, OutputExists
from ..store import files
from .results import STATES, Inventory

_EXPIRY = "usercert_certificate_expiry_timestamp_seconds"
_NOT_BEFORE = "usercert_certificate_not_before_timestamp_seconds"
_COUNT = "usercert_certificates"
_SIGNATURE = f"# HELP {_EXPIRY} ".encode()  # how every file this writes starts


def prometheus(result, out_dir):
    """The metrics of a `list` of `out_dir`, in the Prometheus text format (0.0.4)."""
    if not isinstance(result, Inventory):
        raise InvalidInput("-o prometheus is for list", hint="use -o json or -o yaml")
    where = {"out_dir": os.path.abspath(out_dir)}
    held = [row for row in result.rows if row.state != "revoked"]  # counted below; nothing to renew
    lines = [
        f"# HELP {_EXPIRY} When a client certificate kubectl-usercert issued expires (notAfter), as a Unix time.",
        f"# TYPE {_EXPIRY} gauge",
    ]
    lines += [
        f"{_EXPIRY}{_labels(where, _certificate(row))} {int(row.not_after.timestamp())}"
        for row in held
    ]
    lines += [
        f"# HELP {_NOT_BEFORE} When it became valid (notBefore), as a Unix time.",
        f"# TYPE {_NOT_BEFORE} gauge",
    ]
    lines += [
        f"{_NOT_BEFORE}{_labels(where, _certificate(row))} {int(row.not_before.timestamp())}"
        for row in held
        if row.not_before
    ]
    lines += [
        f"# HELP {_COUNT} How many certificates, by state, when this was written.",
        f"# TYPE {_COUNT} gauge",
    ]
    for state in STATES:
        count = sum(1 for row in result.rows if row.state == state)
        lines.append(f"{_COUNT}{_labels(where, {'state': state.replace(' ', '_')})} {count}")
    return "\n".join(lines) + "\n"


def _certificate(row):
    # No state label: a label that changes with time would start a new series every time it did.
    return {
        "server": row.server or "",
        "user": row.user,
        "serial": row.serial or "",
        "groups": groups_label(row.groups),
    }


def groups_label(groups):
    """The groups joined by commas, a comma or % inside a group written %2C and %25, so that the one
    group `x,y` (x%2Cy) is never read as the groups x and y."""
    return ",".join(group.replace("%", "%25").replace(",", "%2C") for group in groups)


def _labels(*parts):
    labels = {key: value for part in parts for key, value in part.items()}
    return "{" + ",".join(f'{key}="{label_value(value)}"' for key, value in labels.items()) + "}"


def label_value(value):
    """A label value in the text format, whose only escapes are \\\\, \\" and \\n. Any other control or
    line-separating character (a carriage return from a damaged ledger, say) is written as the tool
    shows it everywhere, as its escape text (`\\r`), so no reader sees a line end inside a value."""
    shown = "".join(
        ascii(ch)[1:-1]
        if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
        else ch
        for ch in str(value)
    )
    return shown.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def check_textfile(path):
    """Refuse, before any work, a --textfile that cannot be written where node_exporter would read it."""
    if not os.path.basename(path):
        raise InvalidInput(
            f"--textfile {path!r} names no file",
            hint="name a file in the textfile folder, NAME.prom",
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InvalidInput(
            f"cannot write --textfile {path}: its folder {folder} does not exist",
            hint="point it into node_exporter's --collector.textfile.directory",
        )
    if os.path.isdir(path):
        raise InvalidInput(
            f"cannot write --textfile {path}: it is a folder", hint="name a file in it, NAME.prom"
        )
    if os.path.lexists(path) and not _metrics_file(
        path
    ):  # a mistyped PATH must not cost someone's file
        raise OutputExists(
            f"--textfile {path} exists and holds no metrics this tool wrote",
            hint="remove it, or name another file",
        )
    return folder


def _metrics_file(path):
    """Whether `path` is a regular file this tool wrote (its metrics), or empty."""
    if not stat.S_ISREG(os.lstat(path).st_mode):
        return False
    with open(path, "rb") as handle:
        start = handle.read(len(_SIGNATURE))
    return not start or start == _SIGNATURE


def write_textfile(path, text):
    """`text` as `path`, for node_exporter's textfile collector: written whole into a temporary file in
    the same folder (named so the collector, which reads only *.prom, skips it), mode 0644, renamed
    over `path` in one step; on any failure or interrupt nothing is left behind and `path` is as it was."""
    folder = check_textfile(path)
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{os.urandom(4).hex()}.tmp")
    with (
        signals.critical()
    ):  # a few kilobytes: an interrupt waits until the file is in place, or gone
        try:
            files.write_public(temporary, text)  # (which removes what it wrote if writing fails)
        except OSError as exc:  # not even created
            raise files.write_error(path, exc) from None
        try:
            os.replace(temporary, path)
        except OSError as exc:
            os.unlink(temporary)
            raise files.write_error(path, exc) from None
