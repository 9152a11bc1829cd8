"""Protocol errors carry their HTTP status so every layer can raise them and one middleware renders them."""

from __future__ import annotations

from typing import Any


class TentError(Exception):
    """An error the client caused or must see; rendered as ``{"error": message, **extra}``."""

    def __init__(
        self, message: str, status: int = 400, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


class NotFound(TentError):
    def __init__(self, message: str = "Not Found") -> None:
        super().__init__(message, 404)


class Unauthorized(TentError):
    """403 by default: "not you"; 401 when the caller did not say who they are."""

    def __init__(self, status: int = 403, message: str = "Unauthorized") -> None:
        super().__init__(message, status)


class InvalidAttributes(TentError):
    """Schema failure, with a JSON-Patch-like ``diff`` telling the client how to fix the body."""

    def __init__(self, diff: list[dict[str, Any]]) -> None:
        super().__init__("Invalid Attributes", 400, diff=diff)
        self.diff = diff
