"""Masking what identifies a person in a stored question: emails, phone numbers, account-like numbers.

Amounts, percentages, years and short figures ("$90,000", "36%", "1990", "30-year") are what homeowners
ask about and stay as they are; a run of 8 or more digits (card, account, loan or routing numbers) does not.
"""
from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w$])(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]?\d{4}(?![\w%])")
ACCOUNT = re.compile(r"(?<![\w$.,])(?:[A-Z]{2}\d{2}[A-Z0-9]{10,30}|\d(?:[ -]?\d){7,})(?![\w%])")


def redact(text: str) -> str:
    """`text` with emails, phone numbers and account-like numbers replaced by [email], [phone], [number]."""
    text = EMAIL.sub("[email]", text)
    text = PHONE.sub("[phone]", text)
    return ACCOUNT.sub("[number]", text)
