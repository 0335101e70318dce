"""Counts in words for people: "1 checkpoint", "2 checkpoints", "1,000 images"."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """`count` and `word`, the plural form (`many`, else word + "s") unless count is 1."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"
