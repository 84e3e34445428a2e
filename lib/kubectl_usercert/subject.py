"""The certificate subject: validated names and openssl's `-subj` syntax.

Kubernetes reads the user from CN and one group from every O. openssl's `-subj` parser gives
`/`, `+` and `\\` a meaning and silently drops empty values, so names are checked first and
then escaped: whatever the names contain, the subject holds exactly CN=user and O=group.
"""

import hashlib
import re
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
    if value.startswith("="):
        # Almost always a flag typed as `--group==ops` or `-g =ops`: never take it into a certificate.
        raise InvalidInput(f"the {what} name {value!r} starts with '='",
                           hint=f"write the flag as -g={value[1:]} or -g {value[1:]} (kubectl's syntax); names "
                                "starting with '=' are refused")
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


# Folder names stay well under the 255-byte limit of file systems, with room for the
# `.NAME.xxxxxxxx.tmp` staging folders and `NAME.<serial>.crt` archives made beside them.
MAX_FILE_NAME_BYTES = 120


def file_safe(name):
    """A file and folder name for a user: readable for ordinary names, one name per user.

    `/`, `%`, spaces and other characters that are awkward in paths are percent-encoded, and a
    leading dot is encoded so that no user can become `.`, `..` or a hidden file. An upper-case
    letter becomes `^` and the letter (`Alice` -> `^alice`), so that names differing only in case
    (two users to Kubernetes) keep two folders on a case-insensitive file system (a Mac's). A
    name whose encoding is too long keeps a readable start and ends in `%%` plus a hash of the
    whole name (`%%` never occurs in an ordinary encoding, so no two users share a folder).
    """
    pieces = [_quote(ch) for ch in name]
    if pieces and pieces[0] == ".":
        pieces[0] = "%2E"
    encoded = "".join(pieces)
    if len(encoded) <= MAX_FILE_NAME_BYTES:
        return encoded
    start = ""
    for piece in pieces:  # whole characters only, so the start decodes
        if len(start) + len(piece) > MAX_FILE_NAME_BYTES - 40:
            break
        start += piece
    return start + "%%" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]


def _quote(ch):
    if "A" <= ch <= "Z":
        return "^" + ch.lower()
    return urllib.parse.quote(ch, safe="@:=+,-_.~")


def from_file_safe(encoded):
    """The user name back (for a shortened name: its readable start)."""
    readable = re.sub(r"\^([a-z])", lambda match: match.group(1).upper(), encoded.split("%%")[0])
    return urllib.parse.unquote(readable)
