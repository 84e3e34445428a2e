"""The output contract of a fleet person (see contract.py): `create` on several clusters
(FleetIssued, a UserCertificateList) and the results per cluster of renew, revoke, verify and
inspect (PerCluster, a KINDList whose items name their cluster). Registered with contract.to_object
when a command that prints data loads this module (cli/command.py)."""

from .. import API_VERSION
from .contract import _binding, _certificate, _time, to_object
from .fleet_results import FleetIssued, PerCluster


@to_object.register
def _(result: FleetIssued):
    verifications = result.verifications or (None,) * len(result.credentials)
    owner = (
        {"ownerInstructions": list(result.owner_instructions)} if result.owner_instructions else {}
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "UserCertificateList",
        "metadata": {
            "observedAt": _time(result.credentials[0].observed_at),
            "expiringWithin": None,
        },
        "items": [
            _certificate(
                credential,
                bindings=[_binding(b) for b in result.bindings],
                verification=to_object(verification)["status"] if verification else None,
                **owner,
            )
            for credential, verification in zip(result.credentials, verifications)
        ],
        "warnings": list(result.warnings),
    }


@to_object.register
def _(result: PerCluster):
    """A fleet person's results, one per cluster: KINDList, each item saying its cluster."""
    items = [to_object(item) for _, _, item in result.items]
    for item, (cluster, context, _) in zip(items, result.items):
        item["status"].update(cluster=cluster, adminContext=context)
    kind = items[0]["kind"] if items else "UserCertificate"
    return {
        "apiVersion": API_VERSION,
        "kind": f"{kind}List",
        "metadata": {"observedAt": _time(result.observed_at)}
        | ({"expiringWithin": None} if kind == "UserCertificate" else {}),
        "items": items,
        "warnings": [],
    }
