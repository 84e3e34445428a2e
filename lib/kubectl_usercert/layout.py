"""Where one user's files live: OUT_DIR/USER/{USER.key, USER.crt, kubeconfig}.

Folder and file names are the file-safe form of the user name (see subject.file_safe); the
`.usercert` folder beside the users holds the tool's own records.
"""

import os
from dataclasses import dataclass

from .subject import file_safe, from_file_safe

RECORDS_DIR = ".usercert"


@dataclass(frozen=True)
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
        return os.path.join(self.directory, "kubeconfig")

    @property
    def rbac(self):
        """The bindings made for this user, as applied (kubectl apply -f takes it as it is)."""
        return os.path.join(self.directory, "rbac.yaml")

    def archived_cert(self, serial):
        return os.path.join(self.directory, f"{self.stem}.{serial}.crt")


def user_folders(out_dir):
    """UserFiles for every user folder under out_dir (staging and hidden folders skipped)."""
    if not os.path.isdir(out_dir):
        return []
    return [UserFiles(os.path.join(out_dir, name), name) for name in sorted(os.listdir(out_dir))
            if not name.startswith(".") and os.path.isdir(os.path.join(out_dir, name))]


def records_dir(out_dir):
    return os.path.join(out_dir, RECORDS_DIR)
