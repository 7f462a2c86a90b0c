"""Cleaning untrusted HTML (a student's rendered markdown) down to a small set of harmless tags.

Hand-written on the standard library's parser: nbconvert's own sanitiser escapes headings and
paragraphs, which turned every markdown cell of a feedback page into visible tags. What is kept:
structure and emphasis (headings, paragraphs, lists, tables, code, links with a web or in-page
address); everything else is dropped, with the text of the dropped elements kept as text, except
for scripts and styles, whose content is dropped too.
"""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser

_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "em", "strong", "b", "i", "code", "pre",
                   "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "span", "sub",
                   "sup", "del"})
_VOID = frozenset({"br", "hr"})
_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "code": {"class"}, "span": {"class"}}
_HEADING_IDS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_SILENT = frozenset({"script", "style", "iframe", "object", "embed", "template", "svg", "math"})
_SAFE_LINKS = ("http://", "https://", "mailto:", "#")


def clean(fragment: str) -> str:
    """`fragment` with only the allowed tags and attributes, every text escaped."""
    cleaner = _Cleaner()
    cleaner.feed(fragment)
    cleaner.close()
    return "".join(cleaner.out)


class _Cleaner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._silenced = 0
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SILENT:
            self._silenced += 1
            return
        if self._silenced or tag not in _TAGS:
            return
        allowed = _ATTRIBUTES.get(tag, set()) | ({"id"} if tag in _HEADING_IDS else set())
        kept = []
        for name, value in attrs:
            if name not in allowed or value is None:
                continue
            if name == "href" and not value.strip().lower().startswith(_SAFE_LINKS):
                continue
            kept.append(f' {name}="{escape(value, quote=True)}"')
        self.out.append(f"<{tag}{''.join(kept)}>")
        if tag not in _VOID:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SILENT:
            self._silenced = max(0, self._silenced - 1)
            return
        if self._silenced or tag not in self._open:
            return
        # Close whatever was left open inside it, so the output stays well nested.
        while self._open:
            inner = self._open.pop()
            self.out.append(f"</{inner}>")
            if inner == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self._silenced:
            self.out.append(escape(data, quote=False))

    def close(self) -> None:
        super().close()
        while self._open:
            self.out.append(f"</{self._open.pop()}>")
