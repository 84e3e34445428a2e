"""The one error type core code raises, and the exit codes; the CLI turns an error into `error: ...`
plus a hint and exits with its code (the README tables them)."""

EXIT_OK = 0
EXIT_FAILED = (
    1  # the operation failed: openssl or kubectl failed, the cluster refused, a check failed
)
EXIT_USAGE = 2  # bad input: a flag, a name, a file the user pointed at
EXIT_EXISTS = 3  # the output exists already (use --force)
EXIT_TOOL_MISSING = 4  # a required tool (openssl, kubectl) is missing or unsupported
EXIT_INTERRUPTED = 130  # Ctrl-C, SIGTERM or SIGHUP: what the run had started is cleaned up


class UsercertError(Exception):
    exit_code = EXIT_FAILED

    def __init__(self, message, hint=None, details=None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        # Tool output (e.g. openssl's stderr) shown under the message when it helps.
        self.details = details


class InvalidInput(UsercertError):
    exit_code = EXIT_USAGE


class OutputExists(UsercertError):
    exit_code = EXIT_EXISTS


class ToolMissing(UsercertError):
    exit_code = EXIT_TOOL_MISSING


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP, raised where the run was; a BaseException like KeyboardInterrupt
    so that no `except Exception` swallows it, and every cleanup on the way out runs."""

    def __init__(self, signal_name="SIGINT"):
        super().__init__(signal_name)
        self.signal_name = signal_name
