"""The outermost layer: API key, body size, and no request ever answered with a bare traceback."""
from __future__ import annotations

import hmac
import logging

from starlette.requests import ClientDisconnect

from ..errors import RagError
from ..settings import ServerSettings
from .openai_format import SafeJSONResponse, error_response
from .schemas import RequestError

log = logging.getLogger("rag.server")
OPEN_PATHS = {"/", "/healthz", "/static/chat.js"}


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 9110)."""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


class Guard:
    """Pure ASGI (not BaseHTTPMiddleware, which buffers streams and hides disconnects from the route)."""

    def __init__(self, app, settings: ServerSettings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self._refusal(scope)
        if refusal is not None:
            return await refusal(scope, receive, send)
        started = False

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, self._bounded(receive), tracked_send)
        except ClientDisconnect:
            return  # the client left while sending its body: nobody to answer
        except RagError as error:  # the server's own configuration (a model or index missing): the log says which
            log.error("answering failed: %s", error)
            if not started:
                await error_response(503, "the assistant is not available; the server log says why",
                                     kind="server_error", code="unavailable")(scope, receive, send)
        except Exception:
            log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await error_response(500, "internal error; the server log has the details", kind="server_error",
                                     code="internal_error")(scope, receive, send)

    def _refusal(self, scope) -> SafeJSONResponse | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        key = self.settings.api_key
        if key and scope.get("path") not in OPEN_PATHS:
            token = bearer_token(headers.get("authorization", ""))
            if token is None or not hmac.compare_digest(token.encode("utf-8", "replace"), key.encode()):
                return error_response(401, "missing or wrong API key; send 'Authorization: Bearer <key>'",
                                      kind="authentication_error", code="invalid_api_key")
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.settings.max_request_bytes:
            return error_response(413, f"request body over {self.settings.max_request_bytes} bytes",
                                  code="request_too_large")
        return None

    def _bounded(self, receive):
        """`receive` that stops reading a body past the limit, whatever Content-Length claimed (or if chunked)."""
        received = 0
        limit = self.settings.max_request_bytes

        async def bounded_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestError(f"request body over {limit} bytes", status=413, code="request_too_large")
            return message

        return bounded_receive
