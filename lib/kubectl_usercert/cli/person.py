"""The commands of the person's side: request and import (and `renew --self`, whose flags live with
renew in lifecycle.py and whose call is here). Registered with `Main` in applications.py by name,
so each loads this module only when it runs (or when help lists it).

The person's key is made and kept in their own store (store/person.py); these commands never take
an out-dir, and nothing they print holds a key.
"""

from plumbum import cli

from ..errors import InvalidInput
from . import examples, switches
from .command import Command


def _person_output():
    """The person's results, drawn and printed (registered with ui.render and contract.to_object)."""
    from ..output import person_contract, person_ui  # noqa: F401


class Request(Command, switches.Output, switches.Key, switches.Masters, switches.RequestTimeout):
    """Make a key in your own store and a certificate signing request for USER in GROUPs (the admin signs it)."""

    USAGE_ARGS = "USER [GROUP...]"
    EXAMPLES = examples.REQUEST
    groups = cli.SwitchAttr(
        ["g", "group"], str, argname="GROUP", list=True, help="a group (certificate O)"
    )
    request_file = cli.SwitchAttr(
        "--request-file",
        str,
        argname="FILE",
        group=switches.FILES,
        help="where to write the request (default USER.csr here; - for stdout)",
    )
    force = cli.Flag(
        "--force",
        group=switches.FILES,
        help="replace an existing request file (with --submit: the kubeconfig's entries too, "
        "keeping a backup)",
    )
    submit = cli.Flag(
        "--submit",
        group=switches.CLUSTER,
        help="file the request through your own kubeconfig (the CSR API), wait for it, and "
        "import the certificate",
    )
    kubeconfig = cli.SwitchAttr(
        "--kubeconfig",
        str,
        argname="FILE",
        group=switches.CLUSTER,
        help="with --submit: your kubeconfig (default: KUBECONFIG, then ~/.kube/config)",
    )
    context = cli.SwitchAttr(
        "--context",
        str,
        argname="NAME",
        group=switches.CLUSTER,
        help="with --submit: the context to file it through (default: the current one)",
    )
    wait = cli.SwitchAttr(
        "--wait",
        str,
        argname="DURATION",
        default="5m",
        group=switches.CLUSTER,
        help="with --submit: how long to wait for approval and signing",
    )
    expiration = cli.SwitchAttr(
        "--expiration",
        str,
        argname="DURATION",
        default="365d",
        group=switches.KEY,
        help="with --submit: the validity asked for (at least 10m; the admin decides otherwise)",
    )
    set_current = cli.Flag(
        "--set-current", group=switches.CLUSTER, help="with --submit: make the new context current"
    )
    exec_plugin = cli.Flag(
        "--exec",
        group=switches.CLUSTER,
        help="with --submit: write the user as the credential plugin (as import --exec does)",
    )
    renew_before = cli.SwitchAttr(
        "--renew-before",
        str,
        argname="DURATION",
        group=switches.CLUSTER,
        help="with --submit --exec: renew once less than this is left (default: a third of the "
        "lifetime)",
    )

    def main(self, user, *groups):
        from ..commands.request import KeyRequest, request
        from ..times import parse_duration

        if self.request_file == "-" and self.output:
            raise InvalidInput(
                "--request-file - and -o both write to stdout", hint="use one of them"
            )
        if not self.submit and (
            self.kubeconfig or self.context or self.set_current or self.exec_plugin
        ):
            raise InvalidInput(
                "--kubeconfig, --context, --set-current and --exec are for --submit",
                hint="add --submit to file the request through your kubeconfig",
            )
        if self.renew_before is not None and not (self.submit and self.exec_plugin):
            raise InvalidInput(
                "--renew-before is for --submit --exec (when the credential plugin renews)",
                hint="add --submit --exec, or leave --renew-before out",
            )
        _person_output()
        return self.perform(
            request,
            KeyRequest(
                user=user,
                groups=tuple(groups) + tuple(self.groups),
                key=self.key(),
                request_file=self.request_file,
                force=self.force,
                allow_system_masters=self.allow_system_masters,
                submit=self.submit,
                kubeconfig=self.kubeconfig,
                context=self.context,
                timeout=self.timeout_seconds(),
                wait_seconds=parse_duration(self.wait, "--wait").total_seconds(),
                validity=parse_duration(self.expiration, "--expiration"),
                set_current=self.set_current,
                exec_plugin=self.exec_plugin,
                renew_before=_renew_before(self.renew_before),
            ),
        )


class Import(Command, switches.Output, switches.RequestTimeout):
    """Take in the kubeconfig the admin signed for your key: check it against your store, merge it into your kubeconfig."""

    USAGE_ARGS = "BUNDLE"
    EXAMPLES = examples.IMPORT
    kubeconfig = cli.SwitchAttr(
        "--kubeconfig",
        str,
        argname="FILE",
        group=switches.CLUSTER,
        help="the kubeconfig to add to (default: the file kubectl writes: KUBECONFIG's, else "
        "~/.kube/config)",
    )
    force = cli.Flag(
        "--force",
        group=switches.FILES,
        help="replace a cluster, user or context of the same name that differs (a backup of the "
        "kubeconfig is kept)",
    )
    set_current = cli.Flag(
        "--set-current", group=switches.CLUSTER, help="make the new context current"
    )
    verify = cli.Flag(
        "--verify",
        group=switches.CLUSTER,
        help="then ask the cluster who the new context's user is (kubectl auth whoami)",
    )
    exec_plugin = cli.Flag(
        "--exec",
        group=switches.CLUSTER,
        help="write the user as a credential plugin (kubectl usercert credential) that reads your "
        "store and renews itself, instead of the certificate and key inline",
    )
    renew_before = cli.SwitchAttr(
        "--renew-before",
        str,
        argname="DURATION",
        group=switches.CLUSTER,
        help="with --exec: renew once less than this is left (default: a third of the lifetime)",
    )

    def main(self, bundle_file):
        from ..commands.import_bundle import ImportRequest, import_bundle

        _person_output()
        return self.perform(
            import_bundle,
            ImportRequest(
                bundle=bundle_file,
                kubeconfig=self.kubeconfig,
                force=self.force,
                set_current=self.set_current,
                verify=self.verify,
                timeout=self.timeout_seconds(),
                exec_plugin=self.exec_plugin,
                renew_before=_renew_before(self.renew_before),
            ),
        )


class Credential(Command):
    """kubectl's credential plugin (what import --exec writes): a certificate and key from your store; renews them in the background."""

    EXAMPLES = examples.CREDENTIAL
    credential = cli.SwitchAttr(
        "--credential",
        str,
        argname="USER@CLUSTER",
        mandatory=True,
        help="the credential in your store (the kubeconfig user import wrote)",
    )

    def main(self):
        from .credential import main as plugin  # (cli.main sends it there without plumbum)

        return plugin(["--credential", self.credential])


def renew_self(app, user):
    """`renew --self` (see lifecycle.Renew): the person's own credential, renewed as themselves."""
    from ..commands.renew_self import SelfRenewRequest
    from ..commands.renew_self import renew_self as renew
    from ..times import parse_duration

    admins = [
        flag
        for flag, given in (
            ("USER", user is not None),
            ("-g", bool(app.groups)),
            ("--rekey", app.rekey),
            ("--days", app.days is not None),
            ("--expiration", app.expiration is not None),
            ("--signer", app.signer != "auto"),
            ("--ca-cert", bool(app.ca_cert)),
            ("--ca-key", bool(app.ca_key)),
            ("--approve", app.approve),
            ("--keep-csr", app.keep_csr),
        )
        if given
    ]
    if admins:
        raise InvalidInput(
            f"renew --self renews your own credential as it is: {', '.join(admins)} is for the admin's renew",
            hint="drop it; --self takes --kubeconfig, --context, --credential, --keep-key, "
            "--key-type, --key-size, --wait, --exec and --renew-before",
        )
    if app.keep_key and (app.key_type or app.key_size):
        raise InvalidInput(
            "--keep-key keeps the key as it is", hint="drop --key-type and --key-size"
        )
    _person_output()
    return app.perform(
        renew,
        SelfRenewRequest(
            kubeconfig=app.kubeconfig,
            contexts=app.contexts(),
            keep_key=app.keep_key,
            key_type=app.key_type,
            key_size=app.key_size,
            wait_seconds=parse_duration(app.wait, "--wait").total_seconds(),
            timeout=app.timeout_seconds(),
            credential=app.credential,
            background=app.background,
            exec_plugin=app.exec_plugin,
            renew_before=_renew_before(app.renew_before),
        ),
    )


def _renew_before(text):
    from ..times import parse_duration

    if text is None:
        return None
    delta = parse_duration(text, "--renew-before", default_unit="m")
    if not delta:
        raise InvalidInput(
            "--renew-before 0 would never renew", hint="use a duration: 20m, 8h, 10d"
        )
    return delta
