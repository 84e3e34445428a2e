"""apply -f ROSTER, and create --from-file (a roster made in memory from a CSV): registered with
`Main` in applications.py by name, so they load only when they run (or when help lists them)."""

import os

from plumbum import cli

from ..errors import InvalidInput
from . import examples, switches
from .command import Command


class Apply(
    Command, switches.Output, switches.OutDir, switches.Signer, switches.Masters, switches.DryRun
):
    """Apply a roster of users (kind: UserRoster): issue, renew, re-bind and (with --prune) revoke, in parallel."""

    EXAMPLES = examples.APPLY
    filenames = cli.SwitchAttr(
        ["f", "filename"],
        str,
        argname="FILE",
        list=True,
        mandatory=True,
        help="a roster file, or - for stdin",
    )
    prune = cli.Flag(
        "--prune",
        help="revoke the users of --out-dir this tool issued that the rosters no longer list",
    )
    jobs = cli.SwitchAttr(
        ["j", "jobs"],
        cli.Range(1, 64),
        argname="N",
        default=os.cpu_count() or 1,
        help="how many users to work on at once (default: the number of CPUs)",
    )
    server = cli.SwitchAttr(
        "--server",
        str,
        argname="URL",
        group=switches.CLUSTER,
        help="the API server URL for new kubeconfigs (overrides the kubeconfig's)",
    )

    def main(self):
        from ..commands.apply import apply, file_sources
        from ..output import console

        return self.perform(
            apply,
            apply_request(self, file_sources(self.filenames), self.prune, self.dry_run, self.jobs),
            steps=console.bar,
        )


def create_from_file(app, user):
    """create --from-file: the CSV's users, with create's flags as the roster's defaults."""
    from ..commands.apply import apply, csv_sources
    from ..output import console

    if user is not None or app.groups or app.print_rbac or app.verify or app.force:
        raise InvalidInput(
            "--from-file takes its users and groups from the file",
            hint="drop USER, GROUP, -g, --print-rbac, --verify and --force",
        )
    if app.all_contexts or len(app.contexts()) > 1 or app.key_per_cluster:
        raise InvalidInput(
            "--from-file issues on one cluster",
            hint="for several, write a roster with spec.clusters and apply it (kubectl usercert "
            "apply -f)",
        )
    defaults = dict(
        keyType=app.key_type,
        keySize=app.key_size,
        namespace=app.namespace,
        preset=app.preset,
        clusterRoles=app.clusterroles,
        roles=[(role, app.namespace) for role in app.roles],
        expiration=app.expiration,
        days=None if app.expiration else app.days,
    )
    return app.perform(
        apply,
        apply_request(app, csv_sources(app.from_file, defaults), dry_run=app.dry_run),
        steps=console.bar,
    )


def apply_request(app, sources, prune=False, dry_run="none", jobs=None):
    from ..commands.apply import ApplyRequest

    return ApplyRequest(
        sources,
        app.out_dir,
        app.signer_options(per_context=True),
        app.signer != "auto",
        app.server,
        prune,
        dry_run,
        jobs or os.cpu_count() or 1,
        app.allow_system_masters,
    )
