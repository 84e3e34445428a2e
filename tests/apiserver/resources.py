"""Resource types: what the server knows about one REST resource."""

from dataclasses import dataclass
from typing import Tuple

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource; `review` ones are create-only and never stored."""

    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool
    short_names: Tuple[str, ...] = ()
    verbs: Tuple[str, ...] = STANDARD_VERBS
    review: bool = False
    hidden: bool = False  # routable but absent from discovery (old API versions)
    selectable_fields: Tuple[str, ...] = ()  # field selectors beyond metadata.name/namespace

    @property
    def api_version(self) -> str:
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def qualified(self) -> str:
        """GroupResource.String(): what error messages call the resource."""
        return "%s.%s" % (self.resource, self.group) if self.group else self.resource
