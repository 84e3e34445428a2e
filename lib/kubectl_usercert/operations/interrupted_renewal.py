"""What a `renew --self` killed (SIGKILL) between the store and an inline kubeconfig leaves, finished
by the next one. The store takes a renewed credential in one rename (store/person.py), then the
kubeconfig whose user holds the certificate and key inline; killed between the two, the
kubeconfig keeps the previous certificate (kept in the store's previous/ until the kubeconfig has
the new one) with its key, which still work. The next renewal puts the store's into the kubeconfig
first, so that it files its request with the latest certificate (approve refuses an older one).
"""

from ..cluster import person_kubeconfig
from ..errors import InvalidInput
from .import_credential import user_entry as inline_user

REIMPORT = "import the credential again (kubectl usercert import BUNDLE --force)"


def finish_swap(store, state, cert_pem, kubeconfig_file, user_entry, holder):
    """The kubeconfig's user `user_entry` given the store's certificate and key (the file `holder`
    read again after)."""
    key_pem = store.read_key(state.get("keyFingerprint") or "")
    if key_pem is None:
        raise InvalidInput(f"the key of {user_entry} is not in the store", hint=REIMPORT)
    body = person_kubeconfig.entry(kubeconfig_file.document, "users", user_entry)
    entries = [("users", user_entry, {**body, **inline_user(cert_pem, key_pem)})]
    person_kubeconfig.write(kubeconfig_file, entries, force=True, backup=False)
    return person_kubeconfig.open_for_change(holder)
