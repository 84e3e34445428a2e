"""The roster: a team's users kept in git, applied like a manifest (`kubectl usercert apply -f`).

    apiVersion: usercert.kubectl.io/v1alpha1
    kind: UserRoster
    metadata: {name: platform-team}
    spec:
      defaults: {days: 30, renewBefore: 10d, keyType: ecdsa, namespace: team-a, signer: auto}
      users:
      - name: alice
        groups: [developers, oncall]
        preset: read-only          # and/or clusterRoles: [view], roles: [{name: pod-reader, namespace: team-a}]

Every field is checked for its type when the file is read, and an error names the file, the line
and the field. What only the work can tell (a name Kubernetes would not take, a role that does
not exist) fails that user alone.
"""

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Optional, Tuple

from .. import API_VERSION, PRESETS, SIGNER_KINDS
from ..errors import InvalidInput
from ..output import yamltext
from ..output.results import renewal_window
from ..pki.keys import KEY_TYPES, SIZES, KeySpec
from ..times import duration_text, parse_duration

KIND = "UserRoster"
USER_FIELDS = (
    "name",
    "groups",
    "preset",
    "clusterRoles",
    "roles",
    "days",
    "expiration",
    "keyType",
    "keySize",
    "namespace",
    "renewBefore",
    "selfRenew",
    "clusters",
)
DEFAULT_FIELDS = tuple(f for f in USER_FIELDS if f not in ("name", "clusters")) + ("signer",)
CLUSTER_FIELDS = ("context", "caCert", "caKey", "caKeyPassphraseFile", "signer")
HINT = "see the roster format in the README (kubectl usercert apply)"
# What a roster may hold: ample for any team, and read in well under a second and 100 MB.
MAX_VALUES = 100_000  # per document, with YAML aliases expanded
MAX_USERS = 5_000  # in one run, all files together


@dataclass(frozen=True, eq=False, repr=False)
class RosterUser:
    """One user as the roster wants them, defaults applied."""

    name: str
    groups: Tuple[str, ...]
    preset: Optional[str]
    cluster_roles: Tuple[str, ...]
    roles: Tuple[Tuple[str, str], ...]  # (role, namespace)
    validity: timedelta
    key: KeySpec
    namespace: Optional[str]
    renew_before: timedelta
    signer: str
    source: str  # FILE:LINE, for messages
    self_renew: bool = False  # the right to renew their own certificate (approve approves it)
    clusters: Tuple["RosterCluster", ...] = ()  # spec.clusters: the person's clusters (none: one)


@dataclass(frozen=True, eq=False, repr=False)
class RosterCluster:
    """One cluster of spec.clusters: a context of the admin kubeconfig, and how to sign there."""

    context: str
    ca_cert: Optional[str] = None
    ca_key: Optional[str] = None
    ca_key_passphrase_file: Optional[str] = None
    signer: Optional[str] = None
    source: str = ""  # FILE:LINE: spec.clusters[N], for messages


@dataclass(frozen=True, eq=False, repr=False)
class BuiltRoster:
    """A roster made in memory (create --from-file), checked as a file's would be: the document, and
    the line of its source each user came from, for messages."""

    document: dict
    user_lines: Tuple[int, ...]

    def line_of(self, path):
        index = path[2] if len(path) > 2 and path[:2] == ("spec", "users") else None
        return (
            self.user_lines[index]
            if isinstance(index, int) and 0 <= index < len(self.user_lines)
            else 1
        )


def load(sources):
    """RosterUsers from [(name shown, YAML text or a BuiltRoster)], in order; a user named twice is an
    error, and so are more than MAX_USERS."""
    users, seen, clusters = [], {}, {}
    for shown, content in sources:
        documents = (
            [(content.document, content.line_of)]
            if isinstance(content, BuiltRoster)
            else _documents(shown, content)
        )
        for document, line_of in documents:
            for user, named in _roster_users(document, line_of, shown, clusters):
                if user.name in seen:
                    raise InvalidInput(
                        f"{user.source}: spec.users: {user.name!r} is listed twice (also at "
                        f"{seen[user.name]})",
                        hint="keep one entry per user",
                    )
                if len(users) == MAX_USERS:
                    raise InvalidInput(
                        f"{user.source}: more than {MAX_USERS} users; apply takes at most "
                        f"{MAX_USERS} in one run",
                        hint="apply them in parts, each with its own --out-dir",
                    )
                seen[user.name] = user.source
                users.append((user, named))
    return [_on_clusters(user, named, clusters) for user, named in users]


def _on_clusters(user, named, clusters):
    """The user with the RosterClusters of spec.clusters (of every file) they are on: those they
    name ([(context, FILE:LINE: field)]), else all of them (none without spec.clusters)."""
    for context, where in named:
        if context not in clusters:
            raise InvalidInput(
                f"{where}: {context!r} is not a context of spec.clusters"
                + (f" ({', '.join(clusters)})" if clusters else " (the roster has none)"),
                hint="name a user's clusters by their contexts in spec.clusters",
            )
    contexts = dict.fromkeys(context for context, _ in named) if named else clusters
    return replace(user, clusters=tuple(clusters[context] for context in contexts))


def _documents(shown, text):
    """(document, line_of) of each YAML document of `text`, read within yamltext's bounds."""
    try:
        return [
            (document, line_of)
            for document, line_of in yamltext.read_bounded(text, MAX_VALUES)
            if document is not None
        ]
    except yamltext.Refused as exc:
        raise InvalidInput(f"{shown}:{exc.line}: {exc.problem}", hint=HINT) from None


class _Checker:
    """Field checks that say FILE:LINE: FIELD: what is wrong."""

    def __init__(self, shown, line_of):
        self.shown, self.line_of = shown, line_of

    def fail(self, path, problem, hint=HINT):
        line = self.line_of(path)
        raise InvalidInput(
            f"{self.shown}:{line}: {_field(path) or 'the document'}: {problem}", hint=hint
        )

    def mapping(self, value, path, allowed):
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping")
        unknown = [key for key in value if key not in allowed]
        if unknown:
            self.fail(path + (unknown[0],), f"unknown field (known: {', '.join(allowed)})")
        return value

    def string(self, value, path, choices=None):
        if not isinstance(value, str) or not value:
            self.fail(path, "must be a non-empty string")
        if choices and value not in choices:
            self.fail(path, f"must be one of {', '.join(choices)}")
        return value

    def strings(self, value, path):
        if not isinstance(value, list):
            self.fail(path, "must be a list of names")
        return tuple(self.string(item, path + (index,)) for index, item in enumerate(value))

    def integer(self, value, path, low, high):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            self.fail(path, f"must be a whole number from {low} to {high}")
        return value

    def duration(self, value, path):
        try:
            return parse_duration(value, path[-1]) if isinstance(value, str) else None
        except InvalidInput:
            pass
        self.fail(path, f"must be a duration such as 30d, 8h or 90m, not {value!r}")

    def roles(self, value, path):
        if not isinstance(value, list):
            self.fail(path, "must be a list of {name, namespace}")
        roles = []
        for index, item in enumerate(value):
            where = path + (index,)
            self.mapping(item, where, ("name", "namespace"))
            roles.append(
                (
                    self.string(item.get("name"), where + ("name",)),
                    self.string(item.get("namespace"), where + ("namespace",)),
                )
            )
        return tuple(roles)


def _roster_users(document, line_of, shown, clusters):
    """(RosterUser, [(context, where)] of its own `clusters`) of each user; spec.clusters into
    `clusters` ({context: RosterCluster}, every file's)."""
    check = _Checker(shown, line_of)
    check.mapping(document, (), ("apiVersion", "kind", "metadata", "spec"))
    if document.get("apiVersion") != API_VERSION:
        check.fail(("apiVersion",), f"must be {API_VERSION}")
    if document.get("kind") != KIND:
        check.fail(("kind",), f"must be {KIND}")
    if "metadata" in document:
        check.mapping(document["metadata"], ("metadata",), ("name", "labels", "annotations"))
    spec = check.mapping(document.get("spec"), ("spec",), ("defaults", "users", "clusters"))
    _clusters(check, spec.get("clusters"), clusters)
    defaults = _fields(
        check,
        check.mapping(spec.get("defaults") or {}, ("spec", "defaults"), DEFAULT_FIELDS),
        ("spec", "defaults"),
    )
    users = spec.get("users") or []
    if not isinstance(users, list):
        check.fail(("spec", "users"), "must be a list")
    for index, entry in enumerate(users):
        path = ("spec", "users", index)
        check.mapping(entry, path, USER_FIELDS)
        named = [
            (context, f"{shown}:{line_of(path + ('clusters', at))}: {_field(path)}.clusters[{at}]")
            for at, context in enumerate(
                check.strings(entry["clusters"], path + ("clusters",))
                if "clusters" in entry
                else ()
            )
        ]
        if "clusters" in entry and not named:
            check.fail(path + ("clusters",), "must name at least one context (or be left out)")
        own = _fields(check, {k: v for k, v in entry.items() if k != "clusters"}, path)
        inherited = {
            k: v
            for k, v in defaults.items()
            if not ({"days", "expiration"} & own.keys() and k in ("days", "expiration"))
        }
        fields = {**inherited, **own}
        if "name" not in fields:
            check.fail(path, "needs a name")
        size, key_type = fields.get("keySize"), fields.get("keyType", "rsa")
        if size is not None and size not in SIZES[key_type]:
            check.fail(
                path + ("keySize",),
                f"must be one of {', '.join(map(str, SIZES[key_type]))} for {key_type}",
            )
        user = _user(fields, f"{shown}:{line_of(path)}")
        if user.renew_before >= user.validity:
            where = path if "renewBefore" in own else ("spec", "defaults")
            check.fail(
                where + ("renewBefore",),
                f"{duration_text(user.renew_before)} is not shorter than {user.name}'s lifetime "
                f"({duration_text(user.validity)}): every apply would renew it, each time leaving one more "
                "certificate valid",
                hint=f"give {user.name} a shorter renewBefore of their own"
                if where == ("spec", "defaults")
                else "make renewBefore shorter than days or expiration (left out, it is the last 30 days, "
                "or the last third of a shorter lifetime)",
            )
        yield user, named


def _field(path):
    return "".join(
        f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path)
    )


def _clusters(check, entries, clusters):
    """spec.clusters: each a context of the admin kubeconfig, once, with how to sign there; a
    context in several files must say the same in each."""
    if entries is None:
        return
    if not isinstance(entries, list) or not entries:
        check.fail(("spec", "clusters"), "must be a list of {context, caCert, caKey, signer}")
    for index, entry in enumerate(entries):
        path = ("spec", "clusters", index)
        check.mapping(entry, path, CLUSTER_FIELDS)
        if "context" not in entry:
            check.fail(path, "needs a context (of the admin kubeconfig)")
        found = RosterCluster(
            check.string(entry["context"], path + ("context",)),
            *(
                check.string(entry[key], path + (key,)) if key in entry else None
                for key in ("caCert", "caKey", "caKeyPassphraseFile")
            ),
            signer=check.string(entry["signer"], path + ("signer",), SIGNER_KINDS)
            if "signer" in entry
            else None,
            source=f"{check.shown}:{check.line_of(path)}: {_field(path)}",
        )
        known = clusters.get(found.context)
        if known is not None and _settings(known) != _settings(found):
            check.fail(
                path + ("context",),
                f"{found.context!r} is in spec.clusters twice, differently (also at {known.source})",
                hint="keep one entry per context",
            )
        clusters.setdefault(found.context, found)


def _settings(cluster):
    return (cluster.ca_cert, cluster.ca_key, cluster.ca_key_passphrase_file, cluster.signer)


def _fields(check, entry, path):
    """The fields of a user entry (or of defaults), checked and turned into values."""
    found = {}
    for key, value in entry.items():
        where = path + (key,)
        if key in ("name", "namespace"):
            found[key] = check.string(value, where)
        elif key in ("groups", "clusterRoles"):
            found[key] = check.strings(value, where)
        elif key == "preset":
            found[key] = check.string(value, where, PRESETS)
        elif key == "roles":
            found[key] = check.roles(value, where)
        elif key == "days":
            found[key] = timedelta(days=check.integer(value, where, 1, 36500))
        elif key in ("expiration", "renewBefore"):
            found[key] = check.duration(value, where)
        elif key == "keyType":
            found[key] = check.string(value, where, KEY_TYPES)
        elif key == "keySize":
            found[key] = check.integer(value, where, 256, 8192)
        elif key == "signer":
            found[key] = check.string(value, where, SIGNER_KINDS)
        elif key == "selfRenew":
            if not isinstance(value, bool):
                check.fail(where, "must be true or false")
            found[key] = value
    if "days" in found and "expiration" in found:
        check.fail(path + ("expiration",), "give days or expiration, not both")
    return found


def _user(fields, source):
    validity = fields.get("expiration") or fields.get("days") or timedelta(days=365)
    return RosterUser(
        name=fields["name"],
        groups=fields.get("groups", ()),
        preset=fields.get("preset"),
        cluster_roles=fields.get("clusterRoles", ()),
        roles=fields.get("roles", ()),
        validity=validity,
        key=KeySpec(fields.get("keyType", "rsa"), fields.get("keySize")),
        namespace=fields.get("namespace"),
        renew_before=fields.get("renewBefore") or renewal_window(validity),
        signer=fields.get("signer", "auto"),
        source=source,
        self_renew=fields.get("selfRenew", False),
    )
