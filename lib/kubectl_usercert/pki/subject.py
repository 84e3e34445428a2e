"""The certificate subject: validated names and openssl's `-subj` syntax.

Kubernetes reads the user from CN and one group from every O. openssl's `-subj` parser gives
`/`, `+` and `\\` a meaning and silently drops empty values, so names are checked first and
then escaped: whatever the names contain, the subject holds exactly CN=user and O=group.

A name must also look like what it is: characters that show as nothing (zero-width spaces, a
byte-order mark, bidi controls) and other spellings of the same text (NFD for NFC) are refused,
so no listing can show `system:masters` for a name that is not.
"""

import json
import unicodedata
from dataclasses import dataclass
from typing import Tuple

from ..errors import InvalidInput
from . import lookalikes

# RFC 5280 upper bounds (ub-common-name, ub-organization-name); openssl refuses longer values.
MAX_NAME_LENGTH = 64
SYSTEM_MASTERS = "system:masters"
SYSTEM_PREFIX = "system:"
# Control, format (zero-width, BOM, bidi), surrogate, private-use and unassigned characters, and
# line or paragraph separators; spaces other than U+0020 (they look like it).
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"}
# Letters that render as blank space.
_BLANK_LETTERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}


@dataclass(frozen=True, eq=False, repr=False)
class Subject:
    user: str
    groups: Tuple[str, ...]

    def openssl_subj(self):
        """The `-subj` argument: O's first, then CN, as kubeadm (and the blog script this tool started
        from) write it."""
        rdns = ["O=" + escape_value(group) for group in self.groups]
        rdns.append("CN=" + escape_value(self.user))
        return "/" + "/".join(rdns)


def escape_value(value):
    """Escape the characters openssl's parse_name treats as syntax inside a value."""
    return "".join("\\" + ch if ch in "\\/+" else ch for ch in value)


def check_name(value, what):
    """Refuse names the subject could not carry exactly, or that would look like another name."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"the {what} name is empty", hint=f"give a non-empty {what} name")
    odd = [ch for ch in value if _looks_wrong(ch)]
    if odd:
        kind = (
            "a control character"
            if unicodedata.category(odd[0]) == "Cc"
            else "an invisible or look-alike character"
        )
        raise InvalidInput(
            f"the {what} name {value!r} contains {kind} (U+{ord(odd[0]):04X})",
            hint="names may hold any visible character and plain spaces; retype the name",
        )
    if unicodedata.normalize("NFC", value) != value:
        raise InvalidInput(
            f"the {what} name {value!r} is not in Unicode NFC form (it would show like "
            f"{unicodedata.normalize('NFC', value)!r}, another name to Kubernetes)",
            hint="write it with composed characters (NFC), as most keyboards type them",
        )
    if value.startswith("="):
        # Almost always a flag typed as `--group==ops` or `-g =ops`: never take it into a certificate.
        raise InvalidInput(
            f"the {what} name {value!r} starts with '='",
            hint=f"write the flag as -g={value[1:]} or -g {value[1:]} (kubectl's syntax); names "
            "starting with '=' are refused",
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


def _looks_wrong(ch):
    return ch in _BLANK_LETTERS or (unicodedata.category(ch) in _REFUSED_CATEGORIES and ch != " ")


def make_subject(user, groups):
    """A checked Subject; duplicate groups are folded, order kept."""
    check_name(user, "user")
    unique = []
    for group in groups:
        check_name(group, "group")
        if group not in unique:
            unique.append(group)
    return Subject(user, tuple(unique))


def subject_warnings(subject, allow_system_masters=False):
    """Warnings for names in Kubernetes' `system:` space, or that look as if they were (Unicode's
    confusables: `ѕystem:masters` with a Cyrillic ѕ); system:masters, or a look-alike, is refused
    unless allowed."""
    warnings = []
    if subject.user.startswith(SYSTEM_PREFIX):
        warnings.append(
            f"user {subject.user} is in Kubernetes' system: name space (nodes, service accounts and "
            "components authenticate as such names); make sure that is intended"
        )
    elif lookalikes.looks_prefixed(subject.user, SYSTEM_PREFIX):
        warnings.append(
            f"user {subject.user} looks like a name in Kubernetes' system: name space "
            f"({lookalikes.imitations(subject.user)}); make sure that is intended"
        )
    for group in subject.groups:
        if group == SYSTEM_MASTERS:
            if not allow_system_masters:
                raise InvalidInput(
                    "group system:masters is refused: it bypasses RBAC and webhooks, and a certificate "
                    "cannot be revoked, so the holder stays cluster-admin until it expires",
                    hint="bind a role instead (kubectl create clusterrolebinding ... --user USER), "
                    "or pass --allow-system-masters",
                )
            warnings.append(
                "system:masters bypasses RBAC; this certificate is cluster-admin until it expires"
            )
        elif lookalikes.confusable(group, SYSTEM_MASTERS):
            looks = f"group {group} looks like system:masters ({lookalikes.imitations(group)})"
            if not allow_system_masters:
                raise InvalidInput(
                    f"{looks}, and is refused as system:masters is: whoever reads a listing, a "
                    "binding or an audit log would take its holder for a cluster-admin",
                    hint="choose a group name that imitates no system: name, or pass "
                    "--allow-system-masters",
                )
            warnings.append(
                f"{looks}: Kubernetes gives it no power, but every listing shows a cluster-admin"
            )
        elif group.startswith(SYSTEM_PREFIX):
            warnings.append(
                f"group {group} is a Kubernetes system group; make sure that is intended"
            )
        elif lookalikes.looks_prefixed(group, SYSTEM_PREFIX):
            warnings.append(
                f"group {group} looks like a Kubernetes system group ({lookalikes.imitations(group)}); "
                "make sure that is intended"
            )
    return warnings


def group_list(groups, separator=","):
    """Groups as one line in which no group passes for two: a group holding a comma, a space or a
    quote is shown quoted (`"dev,system:masters"` is one group)."""
    return separator.join(
        json.dumps(group, ensure_ascii=False) if any(ch in group for ch in ', "') else group
        for group in groups
    )
