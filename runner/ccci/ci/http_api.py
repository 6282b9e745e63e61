"""What the forge and Drone clients share: a token-authenticated JSON API over requests.

Every call has a timeout and follows no redirect; a failure is the client's error
class naming the method, the endpoint (without the host) and the HTTP status, and the
token never appears in it, even when the server echoes it back.
"""

from __future__ import annotations

from typing import Any, ClassVar

import requests

from ccci.ci.config import Secret

TIMEOUT = 15.0
DETAIL_CHARS = 300


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every non-empty secret replaced, cut to one short line."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<hidden>")
    flat = " ".join(text.split())
    return flat if len(flat) <= DETAIL_CHARS else flat[:DETAIL_CHARS] + "…"


class ApiError(Exception):
    """A call failed: ``status`` is the HTTP status (None: no answer at all)."""

    SERVICE: ClassVar[str] = "api"

    def __init__(self, method: str, endpoint: str, status: int | None, detail: str) -> None:
        self.method, self.endpoint, self.status, self.detail = method, endpoint, status, detail
        super().__init__(f"{self.SERVICE}: {method} {endpoint}: " + (
            f"HTTP {status}: {detail}" if status else f"unreachable: {detail}"))


class ApiClient:
    """The API at ``base_url`` + ``PREFIX`` with ``token`` in ``Authorization``."""

    ERROR: ClassVar[type[ApiError]] = ApiError
    AUTH_SCHEME: ClassVar[str] = "token"
    PREFIX: ClassVar[str] = ""
    EMPTY_OK: ClassVar[bool] = False  # whether a 2xx without a body is a valid answer

    def __init__(self, base_url: str, token: Secret | str, *, timeout: float = TIMEOUT,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token.reveal() if isinstance(token, Secret) else token
        self.timeout = timeout
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def _detail(self, response: requests.Response) -> str:
        """What the service said when it refused a call."""
        return response.text or response.reason or ""

    def _call(self, method: str, endpoint: str, **request: Any) -> Any:
        headers = {"Authorization": f"{self.AUTH_SCHEME} {self._token}",
                   "Accept": "application/json"}
        try:
            response = self._session.request(
                method, f"{self.base_url}{self.PREFIX}{endpoint}", headers=headers,
                timeout=self.timeout, allow_redirects=False, **request)
        except requests.RequestException as exc:
            raise self.ERROR(method, endpoint, None,
                             scrub(f"{type(exc).__name__}: {exc}", self._token)) from None
        if not 200 <= response.status_code < 300:
            raise self.ERROR(method, endpoint, response.status_code,
                             scrub(self._detail(response), self._token))
        if self.EMPTY_OK and (response.status_code == 204 or not response.content):
            return None
        try:
            return response.json()
        except ValueError:
            raise self.ERROR(method, endpoint, response.status_code,
                             "the answer is not JSON") from None
