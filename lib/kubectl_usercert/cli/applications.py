"""The command line: one plumbum application per command, mapping flags to one request and one
`perform` call. Core modules are imported only by the command that runs, so --help, --version and
every other command start without them. Every error reaches the user through `cli.main`, once.
"""

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

    all_contexts = cli.Flag(
        "--all-contexts",
        group=switches.CLUSTER,
        help="one person on every context of the admin kubeconfig (the current one first)",
    )
    key_per_cluster = cli.Flag(
        "--key-per-cluster",
        group=switches.KEY,
        help="several clusters: a key for each (default: one key, a certificate from each)",
    )
    SEVERAL_CONTEXTS = True
    from_file = cli.SwitchAttr(
        "--from-file",
        str,
        argname="FILE",
        help="issue every user of a CSV file (user,group,group... per line): a roster made "
        "in memory and applied, without --prune",
    )

    def main(self, user=None, *groups):
        if self.from_file:
            from .rosters import create_from_file

            return create_from_file(self, user)
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
                    signing=self.signer_options(per_context=True),
                    server=self.server,
                    access=self.access(),
                    print_rbac=self.print_rbac,
                    verify=self.verify,
                    pending_key=pending,
                    dry_run=self.dry_run,
                    contexts=self.contexts(),
                    all_contexts=self.all_contexts,
                    key_per_cluster=self.key_per_cluster,
                ),
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
    SEVERAL_CONTEXTS = True  # --context A --context B: one bundle with a context for each

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
                signing=self.signer_options(per_context=True),
                server=self.server,
                access=self.access(),
                print_rbac=self.print_rbac,
                contexts=self.contexts(),
            ),
        )


# apply -f (rosters.py) and the commands that look after what was issued (lifecycle.py), loaded when
# one of them runs.
Main.subcommand("apply", f"{__package__}.rosters.Apply")
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
