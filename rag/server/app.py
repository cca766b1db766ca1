"""The FastAPI application: routes translate HTTP to `KnowledgeBase` calls and back."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..interactions import FeedbackError, UnknownInteraction
from ..knowledge_base import KnowledgeBase
from ..settings import ServerSettings
from ..types import Answer
from .admission import Admission, Busy
from .answer_run import AnswerRun, unless_disconnected
from .guard import Guard
from .openai_format import ChunkWriter, SafeJSONResponse, chat_turns, completion, error_response
from .public import PublicPaths
from .schemas import (AskRequest, ChatRequest, FeedbackRequest, RequestError, SearchRequest, parse_body,
                      since_time)
from .streaming import StreamedAnswer

STATIC = Path(__file__).resolve().parent / "static"
CLIENT_GONE = 499  # nginx's "client closed request": logged, never seen by the client


def create_app(kb: KnowledgeBase, settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or kb.settings.server
    app = FastAPI(title="rag", docs_url=None, redoc_url=None, openapi_url=None,
                  default_response_class=SafeJSONResponse)
    app.add_middleware(Guard, settings=settings)
    admission = Admission(settings.concurrency, settings.queue_size, settings.queue_timeout_s)

    def public() -> PublicPaths:
        return PublicPaths(kb.snapshot, kb.store.root)

    def question_text(text: str, what: str, param: str) -> str:
        if not text.strip():
            raise RequestError(f"{what} must be a non-empty string", param=param)
        if len(text) > settings.max_question_chars:
            raise RequestError(f"{what} is {len(text)} characters; the limit is {settings.max_question_chars}",
                               param=param, code="question_too_long")
        return text

    async def answer(request: Request, question: str, history: list[dict]) -> Answer | None:
        """The finished answer, or None when the client left first (the work stops with it)."""
        async with admission.slot():
            async with AnswerRun(lambda: kb.stream(question, history, channel="http")) as run:
                return await unless_disconnected(run.answer(), request.receive)

    def require_log(what: str) -> None:
        if kb.log is None:
            raise RequestError(f"this server keeps no log of its answers (log.enabled is false), so it {what}; "
                               "turn the log on (log.enabled = true) and restart it", status=409, code="log_off")

    @app.exception_handler(RequestError)
    async def request_error(_, exc: RequestError):
        return error_response(exc.status, str(exc), param=exc.param, code=exc.code)

    @app.exception_handler(HTTPException)
    async def http_error(_, exc: HTTPException):  # unknown path, wrong method: the same error shape
        response = error_response(exc.status_code, str(exc.detail),
                                  code="not_found" if exc.status_code == 404 else None)
        response.headers.update(exc.headers or {})  # "Allow" on a 405
        return response

    @app.exception_handler(Busy)
    async def busy(_, exc: Busy):
        response = error_response(429, str(exc), kind="rate_limit_error", code="busy")
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.get("/healthz")
    async def healthz():
        snapshot = kb.snapshot
        counts = snapshot.manifest.counts
        return {"status": "ok", "index": kb.store.root.name, "version": snapshot.version,
                "documents": counts.get("documents"), "chunks": counts.get("chunks")}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": settings.model_name, "object": "model", "created": 0,
                                            "owned_by": "rag"}]}

    @app.post("/search")
    async def search(request: Request):
        body = parse_body(await request.body(), SearchRequest)
        query = question_text(body.query, "'query'", "query")
        hits = await run_in_threadpool(kb.search, query, body.k or kb.settings.retrieval.k)
        paths = public()
        return {"query": query, "hits": [paths.hit(h) for h in hits]}

    @app.post("/ask")
    async def ask(request: Request):
        body = parse_body(await request.body(), AskRequest)
        question = question_text(body.question, "'question'", "question")
        history = [{"role": m.role, "content": m.content} for m in body.history or []]
        result = await answer(request, question, history)
        return public().answer(result) if result else Response(status_code=CLIENT_GONE)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        body = parse_body(await request.body(), ChatRequest)
        question, history = chat_turns(body)
        question = question_text(question, "the question (the last message)", "messages")
        if body.stream:
            writer = ChunkWriter(settings.model_name)
            return StreamedAnswer(lambda: writer.identified(kb.stream(question, history, channel="http")), admission,
                                  writer, public)
        result = await answer(request, question, history)
        if result is None:
            return Response(status_code=CLIENT_GONE)
        paths = public()
        return completion(result.text, result.refused, [paths.citation(c) for c in result.citations],
                          settings.model_name, result.id)

    @app.post("/feedback")
    async def feedback(request: Request):
        body = parse_body(await request.body(), FeedbackRequest)
        require_log("takes no feedback")
        try:
            return await run_in_threadpool(kb.feedback, body.id, good=body.good, correction=body.correction,
                                           source=body.source, note=body.note)
        except UnknownInteraction:  # its message names the log's file, which a client is not shown
            raise RequestError(f"no answer with id {body.id[:80]!r} in this server's log: mistyped, from another "
                               "server, or older than the log keeps; the id is the one /ask or "
                               "/v1/chat/completions returned", status=404, param="id", code="unknown_id") from None
        except FeedbackError as exc:
            raise RequestError(str(exc), code="invalid_feedback") from None  # the message names the field

    @app.get("/stats")
    async def stats(request: Request):
        require_log("has no stats")
        since = request.query_params.get("since")
        start = since_time(since) if since else None
        return public().stats(await run_in_threadpool(kb.stats, start))

    @app.get("/")
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/chat.js")
    async def script():
        return FileResponse(STATIC / "chat.js", media_type="text/javascript")

    return app


def serve(kb: KnowledgeBase, host: str, port: int, settings: ServerSettings | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(kb, settings), host=host, port=port, log_level="warning")
