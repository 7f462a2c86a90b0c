"""Cleaning untrusted HTML (a student's rendered markdown) down to a small set of harmless tags.

Hand-written, with its own tokenizer: nbconvert's sanitiser escapes headings and paragraphs,
and the standard library's parser rescans the rest of its buffer at every unclosed `<!--`,
`<![CDATA[` or `<div`, so a cell of them took quadratic time. Here a tag never spans a `<`
(an attribute value holding one is not a tag but text), a comment's end is searched for at
most once for the whole fragment, and open elements are counted rather than searched: one pass,
linear in the fragment. What is kept: structure and emphasis (headings, paragraphs, lists,
tables, code, links with a web or in-page address), nested at most `MAX_DEPTH` deep; everything
else is dropped with the text of the dropped elements kept as text, except for scripts and
styles, whose content is dropped too. Anything that does not parse as a tag or a comment is text.
"""

from __future__ import annotations

import re
from collections import Counter
from html import escape, unescape

_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "em", "strong", "b", "i", "code", "pre",
                   "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "span", "sub",
                   "sup", "del"})
_VOID = frozenset({"br", "hr"})
_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "code": {"class"}, "span": {"class"}}
_HEADING_IDS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_SILENT = frozenset({"script", "style", "iframe", "object", "embed", "template", "svg", "math", "textarea", "title"})
_SAFE_LINKS = ("http://", "https://", "mailto:", "#")
MAX_DEPTH = 64
"""Elements nested deeper than this are dropped (their text kept): browsers slow down on deep trees."""

# No part of a tag may hold `<`, so a match attempt never reads past the next `<`: each character
# is read by at most one failed attempt, and the tokenizer stays linear however the tags are broken.
_VALUE = r"""(?:"[^"<]*"|'[^'<]*'|[^\s"'=<>`]+)"""
_ATTRIBUTE = re.compile(rf"""([^\s"'<>/=]+)(?:\s*=\s*({_VALUE}))?""")
_TAG = re.compile(rf"""<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*{_VALUE})?)*)\s*/?>""")


def clean(fragment: str) -> str:
    """`fragment` with only the allowed tags and attributes, every text escaped."""
    return _Cleaner(fragment).run()


class _Cleaner:
    def __init__(self, text: str) -> None:
        self._text = text
        self.out: list[str] = []
        self._silenced = 0
        self._open: list[str] = []
        self._counts: Counter[str] = Counter()
        self._comment_end = 0
        """Where the next `-->` starts at or after the last search (-1: none in the rest of the text)."""

    def run(self) -> str:
        text, position = self._text, 0
        while position < len(text):
            start = text.find("<", position)
            if start < 0:
                self._data(text[position:])
                break
            self._data(text[position:start])
            position = self._markup(start)
        while self._open:
            self.out.append(f"</{self._open.pop()}>")
        return "".join(self.out)

    def _markup(self, start: int) -> int:
        """Handle the markup at `start` (a `<`); return where the text goes on."""
        text = self._text
        if text.startswith("<!--", start):
            end = self._find_comment_end(start + 4)
            if end >= 0:
                return end + 3  # comments are dropped
        else:
            match = _TAG.match(text, start)
            if match:
                closing, tag, attributes = match.group(1), match.group(2).lower(), match.group(3)
                if closing:
                    self._end(tag)
                else:
                    self._start(tag, attributes)
                return match.end()
        self._data("<")
        return start + 1

    def _find_comment_end(self, start: int) -> int:
        # One search serves every comment opened before the end it found, and "none" serves all the
        # later ones: a cell of unclosed `<!--` is read once, not once per `<!--`.
        if self._comment_end >= 0 and self._comment_end < start:
            self._comment_end = self._text.find("-->", start)
        return self._comment_end

    def _start(self, tag: str, attributes: str) -> None:
        if tag in _SILENT:
            self._silenced += 1
            return
        if self._silenced or tag not in _TAGS or len(self._open) >= MAX_DEPTH:
            return
        allowed = _ATTRIBUTES.get(tag, set()) | ({"id"} if tag in _HEADING_IDS else set())
        kept = []
        for name, raw in _ATTRIBUTE.findall(attributes):
            name = name.lower()
            if name not in allowed or not raw:
                continue
            value = unescape(raw[1:-1] if raw[0] in "\"'" else raw)
            if name == "href" and not value.strip().lower().startswith(_SAFE_LINKS):
                continue
            kept.append(f' {name}="{escape(value, quote=True)}"')
        self.out.append(f"<{tag}{''.join(kept)}>")
        if tag not in _VOID:
            self._open.append(tag)
            self._counts[tag] += 1

    def _end(self, tag: str) -> None:
        if tag in _SILENT:
            self._silenced = max(0, self._silenced - 1)
            return
        if self._silenced or not self._counts[tag]:
            return
        # Close whatever was left open inside it, so the output stays well nested.
        while self._open:
            inner = self._open.pop()
            self._counts[inner] -= 1
            self.out.append(f"</{inner}>")
            if inner == tag:
                break

    def _data(self, data: str) -> None:
        if data and not self._silenced:
            self.out.append(escape(unescape(data), quote=False))
