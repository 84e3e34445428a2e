"""The person's side drawn for people (see ui.py): what `request` made and what the admin runs next,
and what `import`, `request --submit` and `renew --self` put into the person's kubeconfig. Registered
with ui.render when a person's command loads this module."""

import shlex

from ..pki.subject import group_list
from .console import emit_text, quiet, say, show, text, warn
from .results import CertificateRequested, CredentialsInstalled
from .ui import render
from .ui_parts import expiry, fields, groups_field, key_label


@render.register
def _(result: CertificateRequested, data_on_stdout=False):
    if result.request_file is None and result.submitted is None and not data_on_stdout:
        emit_text(result.request_pem.decode("ascii"))  # --request-file -
    for warning in result.warnings:
        warn(warning)
    if result.submitted is not None:
        render(result.submitted)
        return
    if quiet():
        return
    key = key_label(result.key_type, result.key_bits)
    show(
        f"[bold green]Requested[/] a client certificate for [bold]{text(result.user)}[/] in groups "
        f"{text(group_list(result.groups, ', ')) or '(none)'}"
    )
    fields(
        [
            ("key", f"{key}, kept in {text(result.store)}"),
            ("public key", f"SHA-256 {result.key_fingerprint}"),
            ("request", text(result.request_file or "(on stdout)")),
        ]
    )
    show(
        "Send the request to your cluster admin (it holds no secret), who signs it with:\n"
        f"  [bold]{text(result.sign_command)}[/]\n"
        "and sends back the kubeconfig it writes; then:\n"
        "  [bold]kubectl usercert import kubeconfig --set-current[/]"
    )


@render.register
def _(result: CredentialsInstalled, data_on_stdout=False):
    for warning in result.warnings:
        warn(warning)
    if not quiet():
        verb = "Renewed" if result.previous_serial else "Imported"
        for credential in result.credentials:
            show(
                f"[bold green]{verb}[/] the client certificate of [bold]{text(credential.user)}[/] "
                f"as context [bold]{text(credential.context)}[/]"
            )
            fields(
                [
                    ("user", text(credential.user)),
                    ("groups", groups_field(credential.groups)),
                    ("serial", credential.serial),
                    ("expires", expiry(credential.not_after)),
                    ("key", key_label(credential.key_type, credential.key_bits)),
                    ("cluster", f"{text(credential.cluster)} ({text(credential.server)})"),
                    ("kubeconfig", text(result.kubeconfig)),
                ]
            )
        if result.previous_serial and len(result.credentials) > 1:
            say(f"The previous certificates (serials {result.previous_serial}) are no longer used.")
        elif result.previous_serial:
            say(f"The previous certificate (serial {result.previous_serial}) is no longer used.")
        if result.backup:
            say(f"The kubeconfig as it was is kept as {text(result.backup)}")
        if result.current_context:
            say(f"Current context: {text(result.current_context)}")
        first = result.credentials[0]
        show(f"Try it: [bold]kubectl --context {text(shlex.quote(first.context))} auth whoami[/]")
    for verification in result.verifications:
        render(verification)
