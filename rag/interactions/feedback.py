"""Checking a feedback event's fields before it is stored: a wrong field is named, never guessed at."""
from __future__ import annotations

import re

from ..errors import RagError
from .records import clean

SOURCE = re.compile(r"^(?P<file>[^#]+?)(?:#(?:page=)?(?P<page>\d+))?$")


class UnknownInteraction(RagError):
    """Feedback names an answer the log does not hold (a typo, another log, or past the retention limit)."""


class FeedbackError(RagError):
    """A feedback field is malformed; the message names the field."""


def checked_fields(good, correction, source, note, max_chars: int) -> dict:
    """The event's columns: `good` a bool, the texts stripped and bounded, `source` as FILE or FILE#PAGE."""
    if good is not None and not isinstance(good, bool):
        raise FeedbackError(f"good must be true or false (or left out), got {good!r}")
    fields = {"good": None if good is None else int(good)}
    for name, value in (("correction", correction), ("source", source), ("note", note)):
        if value is not None and not isinstance(value, str):
            raise FeedbackError(f"{name} must be text, got {type(value).__name__}")
        value = clean(value).strip() if value is not None else None
        if value is not None and len(value) > max_chars:
            raise FeedbackError(f"{name} is {len(value)} characters; at most {max_chars} (log.max_feedback_chars)")
        fields[name] = value or None
    if fields["source"] is not None:
        match = SOURCE.match(fields["source"])
        if not match or (match["page"] is not None and int(match["page"]) < 1):
            raise FeedbackError(f"source must be FILE or FILE#PAGE (a page number from 1), "
                                f"got {fields['source']!r}")
    if all(value is None for value in fields.values()):
        raise FeedbackError("feedback needs at least one of good (--good/--bad), correction or note")
    if fields["source"] is not None and fields["correction"] is None:
        raise FeedbackError("source names the passage a correction rests on; give the correction too")
    return fields


def parse_source(source: str) -> tuple[str, int | None]:
    """FILE#PAGE (or FILE#page=PAGE) as (FILE, PAGE); PAGE is None when not given."""
    match = SOURCE.match(source)
    return match["file"], int(match["page"]) if match["page"] else None
