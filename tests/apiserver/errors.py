"""API errors: a metav1.Status failure, and the common ones."""

from typing import Optional

from .resources import ResourceType


class APIError(Exception):
    """A metav1.Status failure."""

    def __init__(self, code: int, reason: str, message: str, details: Optional[dict] = None):
        super().__init__(message)
        self.code, self.reason, self.details = code, reason, details

    def status(self) -> dict:
        st = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": str(self),
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            st["details"] = self.details
        return st


def method_not_allowed() -> APIError:
    return APIError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def no_such_path() -> APIError:
    return APIError(404, "NotFound", "the server could not find the requested resource", {})


def not_found(rt: ResourceType, name: str) -> APIError:
    return APIError(
        404,
        "NotFound",
        '%s "%s" not found' % (rt.qualified, name),
        {"name": name, "group": rt.group, "kind": rt.resource},
    )
