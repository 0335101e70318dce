"""Words for people: counts ("1 checkpoint", "2 checkpoints", "1,000 images"), and
names made safe to print (no control character of a file name reaches a terminal)."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """`count` and `word`, the plural form (`many`, else word + "s") unless count is 1."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def printable(name: str) -> str:
    """`name` with control characters (escape, newline, ...) and line separators written
    as Python escapes; everything else (accents, emoji, spaces) as it is."""
    import unicodedata

    def unsafe(ch: str) -> bool:
        return unicodedata.category(ch) in ("Cc", "Zl", "Zp")

    if not any(unsafe(ch) for ch in name):
        return name
    return "".join(repr(ch)[1:-1] if unsafe(ch) else ch for ch in name)


def printable_lines(text: str) -> str:
    """`text` as `printable` writes it, line by line: its own line breaks stay."""
    return "\n".join(printable(line) for line in text.split("\n"))


def fit_words(text: str, width: int) -> str:
    """`text` as it fits one line of `width` cells: whole words from the start and an
    ellipsis where some were left out, never a word cut in two (a single word longer
    than the line is the exception: it is cut, with the ellipsis)."""
    if width <= 0 or len(text) <= width:
        return text
    if width == 1:
        return "…"
    head = text[:width - 1]  # room for the ellipsis
    if text[width - 1] != " " and " " in head:  # the cut fell inside a word: drop it
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:·(") + "…"


def metric(value: float | None, spec: str = ".2f") -> str:
    """A metric for a table: "-" where there is none, `spec` where it reads well, three
    significant digits from a million up (a crafted 1e308 once printed 309 digits)."""
    if value is None:
        return "-"
    if spec.endswith("f") and abs(value) >= 1e6:
        return f"{value:.3g}"
    return format(value, spec)
