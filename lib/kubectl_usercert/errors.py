"""The one error type core code raises; the CLI turns it into `error: ...` plus a hint and an exit code.

Exit codes (documented in the README):
  1  the operation failed (openssl or kubectl failed, the cluster refused, ...)
  2  bad input: a switch, a name, a file the user pointed at
  3  output exists already (use --force)
  4  a required tool (openssl, kubectl) is missing
"""


class UsercertError(Exception):
    exit_code = 1

    def __init__(self, message, hint=None, details=None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        # Tool output (e.g. openssl's stderr) shown under the message when it helps.
        self.details = details


class InvalidInput(UsercertError):
    exit_code = 2


class OutputExists(UsercertError):
    exit_code = 3


class ToolMissing(UsercertError):
    exit_code = 4


class Interrupted(UsercertError):
    """Ctrl-C after something was already written: say what, instead of 'nothing was written'."""

    exit_code = 130
