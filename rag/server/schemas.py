"""Request bodies: bounded JSON, then pydantic models of the shapes the routes read.

Every way a body can be wrong ends as a `RequestError` (a 4xx in the OpenAI error shape) naming the field.
Fields the routes do not read are tolerated, as OpenAI tolerates them.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError,
                      model_validator)

from ..interactions.stats import parse_since
from ..settings import MAX_K

# Deep enough for any real request (OpenAI tool schemas nest perhaps a dozen levels), shallow enough that
# the json module's recursive parser stays far from Python's recursion limit.
MAX_JSON_DEPTH = 64

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)  # disjoint alternatives: linear, no backtracking blow-up
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


class RequestError(Exception):
    """A client mistake: answered with a 4xx in the OpenAI error shape."""

    def __init__(self, message: str, status: int = 400, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.param, self.code = status, param, code


def _encodable(text: str) -> str:
    # "\ud800" is valid JSON but no UTF-8 string: it could be neither tokenised nor echoed in a response.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains an unpaired surrogate escape (\\ud800-\\udfff); send valid Unicode") from None
    return text


Text = Annotated[StrictStr, AfterValidator(_encodable)]
Role = Literal["system", "developer", "user", "assistant"]


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContentPart(_Tolerant):
    """One part of the content-parts form; parts other than text (images, audio) are ignored."""

    type: StrictStr
    text: Text | None = None

    @model_validator(mode="after")
    def _text_part_has_text(self):
        if self.type == "text" and self.text is None:
            raise ValueError("a part of type 'text' needs a string 'text'")
        return self


class ChatMessage(_Tolerant):
    role: Role
    content: Text | list[ContentPart] | None = None  # null: an assistant turn that only called tools

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class ChatRequest(_Tolerant):
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False


class HistoryMessage(_Tolerant):
    role: Role
    content: Text


class AskRequest(_Tolerant):
    question: Text
    history: list[HistoryMessage] | None = None


class SearchRequest(_Tolerant):
    query: Text
    k: StrictInt | None = Field(default=None, ge=1, le=MAX_K)


class FeedbackRequest(BaseModel):
    """A verdict on a logged answer, a better answer, or both. Not an OpenAI shape, so a misspelt field
    ("raiting") is named in a 400 rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")

    id: Text
    rating: Literal["good", "bad"] | None = None
    correction: Text | None = None
    source: Text | None = None  # a document as the answers show it, "homeowner/buying/appraisal.md#2"
    note: Text | None = None

    @property
    def good(self) -> bool | None:
        return None if self.rating is None else self.rating == "good"


def since_time(text: str) -> datetime:
    """`?since=`: the stats window's start (rag.interactions.stats.parse_since), or a 400 naming `since`."""
    try:
        return parse_since(text)
    except ValueError as exc:
        raise RequestError(f"'since' {exc}", param="since") from None


Body = TypeVar("Body", bound=BaseModel)


def parse_body(raw: bytes, model: type[Body]) -> Body:
    """The request body as `model`, or a RequestError that names the field and what it must be."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise RequestError(f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(raw or b"null")
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, an integer of over 4,300 digits
        raise RequestError("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestError("the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _request_error(exc) from None


def json_depth(raw: bytes) -> int:
    """How deep brackets nest outside string literals: a linear scan, safe on any input."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", raw))
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _request_error(exc: ValidationError) -> RequestError:
    # A union (content: a string or a list of parts) fails once per branch; the deepest failure is the
    # branch the client meant, and branches failing equally deep are all worth naming.
    errors = [(_location(e["loc"]), e["msg"], e["loc"]) for e in exc.errors(include_url=False, include_input=False)]
    where, _, loc = max(errors, key=lambda e: e[0].count(".") + e[0].count("["))
    messages = list(dict.fromkeys(m for w, m, _ in errors if w == where))
    # a check of this project's own ("Value error, …") says more than the type the other branch wanted
    messages = [m.removeprefix("Value error, ") for m in messages if m.startswith("Value error, ")] or messages
    text = "; or ".join(messages)
    return RequestError(f"'{where}': {text}" if where else text, param=str(loc[0]) if loc else None)


def _location(loc: tuple) -> str:
    # pydantic names the union branch it tried ("str", "list[ContentPart]"); the client wants only the path
    parts = [p for p in loc if isinstance(p, int) or not (p[:1].islower() and ("[" in p or p in _TYPE_NAMES))]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


_TYPE_NAMES = {"str", "int", "bool", "none", "list", "dict", "function-after"}
