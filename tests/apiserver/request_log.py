"""Request log: one record per answered request, for tests to read."""
from dataclasses import dataclass
from typing import Optional, Tuple


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    user: Optional[str]          # None when authentication failed
    groups: Tuple[str, ...]
    status: int
    reason: str = ""             # short 401 cause: expired, unknown authority, ...
    detail: str = ""             # Go-style error text behind a 401/403
    user_agent: str = ""
