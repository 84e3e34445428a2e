"""Request log: one record per answered request, for tests to read."""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    user: Optional[str]  # None when authentication failed
    groups: Tuple[str, ...]
    status: int
    reason: str = ""  # short 401 cause: expired, unknown authority, ...
    detail: str = ""  # Go-style error text behind a 401/403
    user_agent: str = ""
    extra: Dict[str, List[str]] = field(default_factory=dict)  # the user's extra (credential id)
