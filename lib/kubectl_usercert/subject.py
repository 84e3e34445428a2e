"""The certificate subject: validated names and openssl's `-subj` syntax.

Kubernetes reads the user from CN and one group from every O. openssl's `-subj` parser gives
`/`, `+` and `\\` a meaning and silently drops empty values, so names are checked first and
then escaped: whatever the names contain, the subject holds exactly CN=user and O=group.
"""

import unicodedata
import urllib.parse
from dataclasses import dataclass
from typing import Tuple

from .errors import InvalidInput

# RFC 5280 upper bounds (ub-common-name, ub-organization-name); openssl refuses longer values.
MAX_NAME_LENGTH = 64
SYSTEM_MASTERS = "system:masters"


@dataclass(frozen=True)
class Subject:
    user: str
    groups: Tuple[str, ...]

    def openssl_subj(self):
        """The `-subj` argument: O's first, then CN, as kubeadm and the original script do."""
        rdns = ["O=" + escape_value(group) for group in self.groups]
        rdns.append("CN=" + escape_value(self.user))
        return "/" + "/".join(rdns)


def escape_value(value):
    """Escape the characters openssl's parse_name treats as syntax inside a value."""
    return "".join("\\" + ch if ch in "\\/+" else ch for ch in value)


def check_name(value, what):
    """Refuse names the subject could not carry exactly; return the name unchanged."""
    if not value:
        raise InvalidInput(f"the {what} name is empty", hint=f"give a non-empty {what} name")
    bad = [ch for ch in value if unicodedata.category(ch) in ("Cc", "Cs")]
    if bad:
        raise InvalidInput(
            f"the {what} name {value!r} contains a control character ({bad[0]!r})",
            hint="names may hold any printable character, but no control characters",
        )
    if value != value.strip():
        raise InvalidInput(
            f"the {what} name {value!r} has leading or trailing spaces",
            hint="remove the spaces; Kubernetes compares names exactly",
        )
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"the {what} name is {len(value)} characters long",
            hint=f"X.509 allows at most {MAX_NAME_LENGTH} characters in CN and O",
        )
    return value


def make_subject(user, groups):
    """A checked Subject; duplicate groups are folded, order kept."""
    check_name(user, "user")
    unique = []
    for group in groups:
        check_name(group, "group")
        if group not in unique:
            unique.append(group)
    return Subject(user, tuple(unique))


def file_safe(name):
    """A file and folder name for a user: readable for ordinary names, reversible for all.

    `/`, `%`, spaces and other characters that are awkward in paths are percent-encoded, and a
    leading dot is encoded so that no user can become `.`, `..` or a hidden file.
    """
    encoded = urllib.parse.quote(name, safe="@:=+,-_.~")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    return encoded


def from_file_safe(encoded):
    return urllib.parse.unquote(encoded)
