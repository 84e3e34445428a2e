"""The clusters of a person's fleet before anything is made: a signer for each (chosen as create
chooses one), and every cluster asked what could make it fail, so that a person gets every cluster
or none (operations/fleet.py issues them)."""

from dataclasses import dataclass

from ..cluster import fleet as cluster_fleet
from ..cluster import rbac
from ..cluster.kubectl import summary
from ..errors import UsercertError
from ..pki.signers import per_cluster
from ..pki.signers.chooser import SignerChooser
from ..pki.signers.cluster_csr import check_may_file


def _silent(_message):
    pass


@dataclass(frozen=True, eq=False, repr=False)
class Member:
    """One cluster of a person's fleet, and the signer that signs there."""

    cluster: object  # cluster.fleet.FleetCluster
    signer: object

    @property
    def shown(self):
        return f"{self.cluster.name} (context {self.cluster.context})"


def members_for(subject, clusters, signing, progress=_silent):
    """A Member for each FleetCluster: its signer chosen as create chooses one (per_cluster)."""
    options = per_cluster.for_clusters(signing, clusters, progress)
    return [
        Member(cluster, SignerChooser(own).choose(subject, progress=on_cluster(cluster, progress)))
        for cluster, own in zip(clusters, options)
    ]


def prepared(*, subject, signing, contexts, all_contexts=False, access, print_rbac, progress):
    """What create and sign on several clusters do before anything is made: the clusters, a signer
    for each, the bindings to make (none when only printed), every cluster checked (check_members).
    (members, manifests)."""
    clusters = cluster_fleet.resolve(signing.kubectl, contexts, all_contexts)
    members = members_for(subject, clusters, signing, progress)
    manifests = (
        rbac.binding_manifests(access, subject.user, subject.groups) if not access.empty else []
    )
    check_members(
        user=subject.user,
        members=members,
        manifests=() if print_rbac else manifests,
        access=access,
        progress=progress,
    )
    return members, manifests


def check_members(*, user, members, manifests=(), access=None, progress=_silent):
    """Before anything is made: every cluster asked what could make it fail (a namespace or role to
    bind that is missing, a binding name taken; the CSR API unreachable or closed to this
    kubeconfig). One error names every cluster that would fail, and why."""
    problems = {}
    for member in members:
        step = on_member(member, progress)
        try:
            if manifests:
                step("Checking that the roles to bind exist")
                rbac.check_can_bind(member.cluster.kubectl, access, list(manifests))
            if member.signer.name == "csr":
                step("Checking that it takes CertificateSigningRequests")
                check_may_file(member.cluster.kubectl)
        except UsercertError as exc:
            problems[member] = exc
    if problems:
        first = next(iter(problems.values()))
        raise UsercertError(
            f"nothing was issued to {user}: {len(problems)} of {len(members)} clusters cannot "
            "take it (a person gets every cluster or none)",
            details="\n".join(
                f"{m.shown}: " + (summary(problems[m]) if m in problems else "ready")
                for m in members
            ),
            hint="nothing was made, filed or written; "
            + (first.hint or "fix what the cluster said, or leave it out (--context)"),
        )


def on_member(member, progress):
    """Progress lines that name the cluster."""
    return on_cluster(member.cluster, progress)


def on_cluster(cluster, progress):
    return lambda message: progress(f"{cluster.name}: {message}")
