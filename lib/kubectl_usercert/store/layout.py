"""Where things live: OUT_DIR/USER/{USER.key, USER.crt, kubeconfig, rbac.yaml}, and the tool's own
records in OUT_DIR/.usercert/ (the ledger, per-user locks, revoked users' archives).

Folder and file names are the file-safe form of the user name (`file_safe`). Nothing here
touches the disk but `user_folders`, which lists what exists.
"""

import hashlib
import os
import re
import time
import urllib.parse
from dataclasses import dataclass

RECORDS_DIR = ".usercert"
KUBECONFIG_NAME = "kubeconfig"  # in every user's folder
CLUSTERS_DIR = "clusters"  # in a fleet person's folder: a certificate (and key) per cluster
# Folder names stay well under the 255-byte limit of file systems, with room for the
# `.NAME.xxxxxxxx.tmp` staging folders and `NAME.<serial>.crt` archives made beside them.
MAX_FILE_NAME_BYTES = 120
# A staging folder: `.STEM.` + mkdtemp's 8 random characters + `.tmp` (`.old` for what --force
# moved aside).
STAGING = re.compile(r"\.(?P<stem>.+)\.[A-Za-z0-9_]{8}\.(?P<kind>tmp|old)")


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


@dataclass(frozen=True, eq=False, repr=False)
class UserFiles:
    directory: str
    stem: str

    @classmethod
    def for_user(cls, out_dir, user):
        stem = file_safe(user)
        return cls(os.path.join(out_dir, stem), stem)

    def inside(self, folder):
        """The same names in another folder (a staging folder, say)."""
        return UserFiles(folder, self.stem)

    @property
    def user(self):
        return from_file_safe(self.stem)

    @property
    def key(self):
        return os.path.join(self.directory, f"{self.stem}.key")

    @property
    def cert(self):
        return os.path.join(self.directory, f"{self.stem}.crt")

    @property
    def csr(self):
        return os.path.join(self.directory, f"{self.stem}.csr")

    @property
    def kubeconfig(self):
        return os.path.join(self.directory, KUBECONFIG_NAME)

    @property
    def rbac(self):
        """The bindings made for this user, as applied (kubectl apply -f takes it as it is)."""
        return os.path.join(self.directory, "rbac.yaml")

    def archived_cert(self, serial):
        return os.path.join(self.directory, f"{self.stem}.{serial}.crt")

    @property
    def clusters(self):
        """A fleet person's folder of per-cluster files."""
        return os.path.join(self.directory, CLUSTERS_DIR)

    def for_cluster(self, cluster, own_key=False):
        """One cluster's files in a fleet person's folder: clusters/CLUSTER.crt, and the key it is
        for (the person's one key, or with own_key clusters/CLUSTER.key)."""
        base = os.path.join(self.clusters, file_safe(cluster))
        return ClusterFiles(
            directory=self.directory,
            cert=base + ".crt",
            key=base + ".key" if own_key else self.key,
            csr=base + ".csr",
            kubeconfig=self.kubeconfig,
            archive_stem=base,
        )


@dataclass(frozen=True, eq=False, repr=False)
class ClusterFiles:
    """What the issuing steps read and write for one cluster of a fleet (as UserFiles for one)."""

    directory: str
    cert: str
    key: str
    csr: str
    kubeconfig: str
    archive_stem: str

    def archived_cert(self, serial):
        return f"{self.archive_stem}.{serial}.crt"


def user_folders(out_dir):
    """UserFiles for every user folder under out_dir (staging and hidden folders skipped)."""
    try:
        names = sorted(os.listdir(out_dir))
    except OSError:
        return []
    return [
        UserFiles(os.path.join(out_dir, name), name)
        for name in names
        if not name.startswith(".") and os.path.isdir(os.path.join(out_dir, name))
    ]


def records_dir(out_dir):
    return os.path.join(out_dir, RECORDS_DIR)


def ledger_path(out_dir):
    return os.path.join(records_dir(out_dir), "ledger.jsonl")


def locks_dir(out_dir):
    return os.path.join(records_dir(out_dir), "locks")


def revoked_dir(out_dir):
    return os.path.join(records_dir(out_dir), "revoked")


def revoked_archive(out_dir, stem, serial):
    """Where a revoked user's folder goes: named by user, serial and time, so nothing is overwritten."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return os.path.join(revoked_dir(out_dir), f"{stem}.{serial or 'unknown'}.{stamp}")
