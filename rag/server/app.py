"""The FastAPI application: routes translate HTTP to `KnowledgeBase` calls and back."""
from __future__ import annotations

import hmac
import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from ..knowledge_base import KnowledgeBase
from ..settings import ServerSettings
from ..types import Answer
from .admission import Admission, Busy
from .openai_format import ChunkWriter, RequestError, completion, error_body, parse_chat_request

STATIC = Path(__file__).resolve().parent / "static"
OPEN_PATHS = {"/", "/healthz", "/static/chat.js"}


def create_app(kb: KnowledgeBase, settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or kb.settings.server
    app = FastAPI(title="rag", docs_url=None, redoc_url=None, openapi_url=None)
    admission = Admission(settings.concurrency, settings.queue_size, settings.queue_timeout_s)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if settings.api_key and request.url.path not in OPEN_PATHS:
            supplied = request.headers.get("authorization", "")
            if not hmac.compare_digest(supplied.encode(), f"Bearer {settings.api_key}".encode()):
                return _error(401, "missing or wrong API key; send 'Authorization: Bearer <key>'",
                              kind="authentication_error", code="invalid_api_key")
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_request_bytes:
            return _error(413, f"request body over {settings.max_request_bytes} bytes", code="request_too_large")
        return await call_next(request)

    @app.exception_handler(RequestError)
    async def request_error(_, exc: RequestError):
        return _error(exc.status, str(exc), param=exc.param, code=exc.code)

    @app.exception_handler(Busy)
    async def busy(_, exc: Busy):
        response = _error(429, str(exc), kind="rate_limit_error", code="busy")
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.get("/healthz")
    async def healthz():
        snapshot = kb.snapshot
        return {"status": "ok", "index": str(kb.store.root), "version": snapshot.version,
                "documents": snapshot.manifest.counts.get("documents"), "chunks": snapshot.manifest.counts.get("chunks")}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": settings.model_name, "object": "model", "created": 0,
                                            "owned_by": "rag"}]}

    @app.post("/search")
    async def search(request: Request):
        body = await _json(request, settings.max_request_bytes)
        query = _string(body, "query", settings.max_question_chars)
        k = body.get("k", kb.settings.retrieval.k)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 50:
            raise RequestError("'k' must be a whole number from 1 to 50", param="k")
        hits = await run_in_threadpool(kb.search, query, k)
        return {"query": query, "hits": [h.to_dict() for h in hits]}

    @app.post("/ask")
    async def ask(request: Request):
        body = await _json(request, settings.max_request_bytes)
        question = _string(body, "question", settings.max_question_chars)
        history = body.get("history") or []
        if not isinstance(history, list) or not all(isinstance(m, dict) for m in history):
            raise RequestError("'history' must be a list of {role, content} objects", param="history")
        async with admission.slot():
            answer = await run_in_threadpool(kb.ask, question, history)
        return answer.to_dict()

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        body = await _json(request, settings.max_request_bytes)
        question, history, stream = parse_chat_request(body, settings.max_question_chars)
        if not stream:
            async with admission.slot():
                answer = await run_in_threadpool(kb.ask, question, history)
            return completion(answer, settings.model_name)
        await admission.enter()  # before the response starts, so a full queue is still a 429
        return StreamingResponse(_sse(kb, question, history, settings.model_name, admission),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/")
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/chat.js")
    async def script():
        return FileResponse(STATIC / "chat.js", media_type="text/javascript")

    return app


async def _sse(kb: KnowledgeBase, question: str, history: list, model: str, admission: Admission):
    writer = ChunkWriter(model)
    try:
        yield writer.start()
        async for event in iterate_in_threadpool(kb.stream(question, history)):
            yield writer.finish(event) if isinstance(event, Answer) else writer.text(event)
    finally:
        admission.leave()


async def _json(request: Request, limit: int) -> dict:
    raw = await request.body()
    if len(raw) > limit:
        raise RequestError(f"request body over {limit} bytes", status=413, code="request_too_large")
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RequestError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    return body


def _string(body: dict, field: str, max_chars: int) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"'{field}' must be a non-empty string", param=field)
    if len(value) > max_chars:
        raise RequestError(f"'{field}' is {len(value)} characters; the limit is {max_chars}", param=field,
                           code="question_too_long")
    return value


def _error(status: int, message: str, kind: str = "invalid_request_error", param=None, code=None) -> JSONResponse:
    return JSONResponse(error_body(message, kind, param, code), status_code=status)


def serve(kb: KnowledgeBase, host: str, port: int, settings: ServerSettings | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(kb, settings), host=host, port=port, log_level="warning")
