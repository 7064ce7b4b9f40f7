"""Stripe's error answers, as the fake raises them from any depth of a request."""

from __future__ import annotations

from typing import Any


class StripeFailure(Exception):
    """An error answer: its status, Stripe's error object and any headers that go with it."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        return {"error": error}


def fail(message: str, code: str | None = None, status: int = 400) -> StripeFailure:
    """The common case: a request Stripe refuses as invalid."""
    return StripeFailure(status, message, "invalid_request_error", code)


def error_type(status: int) -> str:
    return "api_error" if status >= 500 else "invalid_request_error"
