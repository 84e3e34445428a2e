"""The command line: one plumbum application per command, mapping flags to one request and one
`perform` call. Core modules are imported only by the command that runs, so --help, --version and
every other command start without them. Every error reaches the user through `cli.main`, once.
"""

import os
from contextlib import nullcontext

from plumbum import cli

from .. import __version__
from ..errors import EXIT_OK, InvalidInput
from . import examples, switches
from .command import Command, go_quote, kubectl_help
from .plumbum_adapter import subcommands


class Main(Command):
    """Give people access to a Kubernetes cluster with X.509 client certificates."""

    PROGNAME = "kubectl usercert"
    VERSION = __version__
    DESCRIPTION = (
        "Issue X.509 client certificates signed by the cluster's CA, and self-contained kubeconfigs for "
        "them; keep a ledger of what was issued."
    )
    EXAMPLES = examples.MAIN

    def main(self, *args):
        if args:
            raise InvalidInput(
                f"unknown command {go_quote(args[0])} for {go_quote(self.PROGNAME)}",
                hint=f"see '{self.PROGNAME} --help'",
            )
        if not self.nested_command:
            self.help()
        return EXIT_OK


@Main.subcommand("help")
class Help(Command):
    """Help about any command: help COMMAND is COMMAND --help, as in kubectl."""

    USAGE_ARGS = "[COMMAND]"

    def main(self, command=None):
        if command is None:
            return self.parent.help()
        commands = subcommands(self.parent)
        if command not in commands:
            raise InvalidInput(
                f"unknown command {go_quote(command)} for {go_quote(self.parent.PROGNAME)}",
                hint=f"see '{self.parent.PROGNAME} --help'",
            )
        print(kubectl_help(commands[command](f"{self.parent.PROGNAME} {command}")))
        return EXIT_OK


@Main.subcommand("create")
class Create(
    Command,
    switches.Output,
    switches.OutDir,
    switches.UserKubeconfig,
    switches.Signer,
    switches.Key,
    switches.Validity,
    switches.Masters,
    switches.RBAC,
    switches.DryRun,
):
    """Create a key, a certificate for USER in GROUPs, and a kubeconfig in OUT_DIR/USER/."""

    USAGE_ARGS = "USER [GROUP...]"
    EXAMPLES = examples.CREATE
    groups = cli.SwitchAttr(
        ["g", "group"], str, argname="GROUP", list=True, help="a group (certificate O)"
    )
    verify = cli.Flag(
        "--verify",
        group=switches.CLUSTER,
        help="then ask the cluster who it thinks the new user is (kubectl auth whoami)",
    )

    from_file = cli.SwitchAttr(
        "--from-file",
        str,
        argname="FILE",
        help="issue every user of a CSV file (user,group,group... per line): a roster made "
        "in memory and applied, without --prune",
    )

    def main(self, user=None, *groups):
        if self.from_file:
            return self._from_file(user)
        if user is None:
            raise InvalidInput(
                "create needs a USER (or --from-file FILE)", hint=f"see '{self.PROGNAME} --help'"
            )
        from ..pki.openssl import PendingKey

        self.refuse_two_on_stdout()
        rehearsal = self.dry_run != "none"  # (no key is made for a plan)
        with (
            nullcontext() if rehearsal else PendingKey(self.key()) as pending
        ):  # the slow step first
            from ..commands.create import CreateRequest, create

            return self.perform(
                create,
                CreateRequest(
                    user=user,
                    groups=tuple(groups) + tuple(self.groups),
                    out_dir=self.out_dir,
                    validity=self.validity(),
                    key=self.key(),
                    namespace=self.namespace,
                    force=self.force,
                    allow_system_masters=self.allow_system_masters,
                    signing=self.signer_options(),
                    server=self.server,
                    access=self.access(),
                    print_rbac=self.print_rbac,
                    verify=self.verify,
                    pending_key=pending,
                    dry_run=self.dry_run,
                ),
            )

    def _from_file(self, user):
        from ..commands.apply import apply, csv_sources
        from ..output import console

        if user is not None or self.groups or self.print_rbac or self.verify or self.force:
            raise InvalidInput(
                "--from-file takes its users and groups from the file",
                hint="drop USER, GROUP, -g, --print-rbac, --verify and --force",
            )
        defaults = dict(
            keyType=self.key_type,
            keySize=self.key_size,
            namespace=self.namespace,
            preset=self.preset,
            clusterRoles=self.clusterroles,
            roles=[(role, self.namespace) for role in self.roles],
            expiration=self.expiration,
            days=None if self.expiration else self.days,
        )
        return self.perform(
            apply,
            _apply_request(self, csv_sources(self.from_file, defaults), dry_run=self.dry_run),
            steps=console.bar,
        )


@Main.subcommand("apply")
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
            _apply_request(self, file_sources(self.filenames), self.prune, self.dry_run, self.jobs),
            steps=console.bar,
        )


def _apply_request(app, sources, prune=False, dry_run="none", jobs=None):
    from ..commands.apply import ApplyRequest

    return ApplyRequest(
        sources,
        app.out_dir,
        app.signer_options(),
        app.signer != "auto",
        app.server,
        prune,
        dry_run,
        jobs or os.cpu_count() or 1,
        app.allow_system_masters,
    )


@Main.subcommand("sign")
class Sign(
    Command,
    switches.Output,
    switches.OutDir,
    switches.UserKubeconfig,
    switches.Signer,
    switches.Validity,
    switches.Masters,
    switches.RBAC,
):
    """Sign a CSR a person made with their own key (kubectl usercert request); write the kubeconfig they import (no key)."""

    EXAMPLES = examples.SIGN
    csr = cli.SwitchAttr(
        "--csr", str, argname="FILE", mandatory=True, help="the request file (PEM or DER)"
    )
    user = cli.SwitchAttr(
        "--user",
        str,
        argname="USER",
        mandatory=True,
        help="the user the request must name (its CN)",
    )
    groups = cli.SwitchAttr(
        ["g", "group"], str, argname="GROUP", list=True, help="a group the request must hold (O)"
    )

    def main(self):
        from ..commands.sign import SignRequest, sign

        self.refuse_two_on_stdout()
        return self.perform(
            sign,
            SignRequest(
                csr_path=self.csr,
                user=self.user,
                groups=tuple(self.groups),
                out_dir=self.out_dir,
                validity=self.validity(),
                namespace=self.namespace,
                force=self.force,
                allow_system_masters=self.allow_system_masters,
                signing=self.signer_options(),
                server=self.server,
                access=self.access(),
                print_rbac=self.print_rbac,
            ),
        )


# The commands that look after what was issued (lifecycle.py), loaded when one of them runs.
Main.subcommand("inspect", f"{__package__}.lifecycle.Inspect")
Main.subcommand("list", f"{__package__}.lifecycle.List")
Main.subcommand("whois", f"{__package__}.lifecycle.Whois")
Main.subcommand("renew", f"{__package__}.lifecycle.Renew")
Main.subcommand("verify", f"{__package__}.lifecycle.Verify")
Main.subcommand("revoke", f"{__package__}.lifecycle.Revoke")
Main.subcommand("approve", f"{__package__}.lifecycle.Approve")
# The person's side (person.py): a key and a request made at home, the signed certificate imported.
Main.subcommand("request", f"{__package__}.person.Request")
Main.subcommand("import", f"{__package__}.person.Import")
Main.subcommand("credential", f"{__package__}.person.Credential")


@Main.subcommand("demo")
class Demo(Command, switches.Output):
    """A first run with no cluster: a throwaway CA, a user issued as 'create' does, and what to try next."""

    EXAMPLES = examples.DEMO
    directory = cli.SwitchAttr(
        "--dir",
        str,
        argname="DIR",
        help="where to put the demo's files (default: a new temporary folder)",
    )

    def main(self):
        from ..commands.demo import DemoRequest, demo

        return self.perform(demo, DemoRequest(self.directory))
