"""The output contract of the person's side (see contract.py): `UserCertificateRequest` (request)
and `UserCredential` (import, request --submit, renew --self), registered with contract.to_object
when a person's command loads this module. A key is never in either: only its public fingerprint.
"""

from .. import API_VERSION
from .contract import _object, _time, _validity, to_object
from .results import CertificateRequested, CredentialsInstalled


@to_object.register
def _(result: CertificateRequested):
    return _object(
        "UserCertificateRequest",
        result.user,
        {
            "user": result.user,
            "groups": list(result.groups),
            "keyType": result.key_type,
            "keySize": result.key_bits,
        },
        {
            "observedAt": _time(result.observed_at),
            "request": result.request_pem.decode("ascii"),
            "requestFile": result.request_file,
            "keyFingerprintSHA256": result.key_fingerprint,
            "store": result.store,
            "signCommand": result.sign_command,
            "credential": to_object(result.submitted) if result.submitted else None,
        },
    )


def _credential(credential, at):
    return {
        "context": credential.context,
        "user": credential.user,
        "groups": list(credential.groups),
        "cluster": credential.cluster,
        "server": credential.server,
        "namespace": credential.namespace,
        "serial": credential.serial,
        **_validity(credential.not_before, credential.not_after, at),
        "keyType": credential.key_type,
        "keySize": credential.key_bits,
        "fingerprintSHA256": credential.fingerprint_sha256,
        "credentialID": credential.credential_id,
        "keyFingerprintSHA256": credential.key_fingerprint,
        "store": credential.store,
    }


@to_object.register
def _(result: CredentialsInstalled):
    first = result.credentials[0]
    status = {
        "observedAt": _time(result.observed_at),
        "kubeconfig": result.kubeconfig,
        **_credential(first, result.observed_at),
        "credentials": [_credential(c, result.observed_at) for c in result.credentials],
        "source": result.source,
        "request": result.request_name,
        "previousSerial": result.previous_serial,
        "backup": result.backup,
        "currentContext": result.current_context,
        "keyMadeElsewhere": result.key_made_elsewhere,
        "verifications": [to_object(v)["status"] for v in result.verifications],
        "warnings": list(result.warnings),
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "UserCredential",
        "metadata": {"name": first.context},
        "spec": {"user": first.user, "groups": list(first.groups)},
        "status": status,
    }
