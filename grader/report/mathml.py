"""The notebook's LaTeX as MathML, so feedback pages show math legibly offline and load nothing.

Browsers render MathML Core natively (Chromium since 109, Firefox, Safari); MathJax, which a
notebook's math is written for, would have to be fetched. This converts the common LaTeX of a
course notebook (fractions, scripts, Greek letters, accents, big operators, `\\left`/`\\right`,
`\\mathrm`/`\\text`, the usual relations and operators); a formula holding anything else is left as
its escaped source, exactly as before, so an unknown command never shows as wrong math.

The input is cleaned HTML (grader.report.safe_html: every text escaped, no `>` in an attribute).
Only its text outside `<code>` and `<pre>` is searched for `$...$` and `$$...$$`; each formula's
output is built from fixed tag names and escaped text, so it cannot carry markup of its own.
Every step is linear in the text: each search for a closing delimiter either finds it or ends
the search for that delimiter for good, a formula is tokenised once, and nesting deeper than
`MAX_DEPTH` (or longer than `MAX_FORMULA`) falls back to the source.
"""

from __future__ import annotations

import re
from html import escape, unescape

MAX_DEPTH = 24
"""Groups nested inside each other in one formula; deeper is left as source (and bounds the recursion)."""
MAX_FORMULA = 2_000
"""Characters of one formula converted; a longer one is left as source."""
MAX_FORMULAS = 500
"""Formulas converted in one fragment (a markdown cell); the rest are left as source, so a cell of thousands of
tiny formulas costs no more than a real one."""

_GREEK = {name: chr(code) for name, code in (
    ("alpha", 0x3B1), ("beta", 0x3B2), ("gamma", 0x3B3), ("delta", 0x3B4), ("epsilon", 0x3F5), ("varepsilon", 0x3B5),
    ("zeta", 0x3B6), ("eta", 0x3B7), ("theta", 0x3B8), ("vartheta", 0x3D1), ("iota", 0x3B9), ("kappa", 0x3BA),
    ("lambda", 0x3BB), ("mu", 0x3BC), ("nu", 0x3BD), ("xi", 0x3BE), ("pi", 0x3C0), ("rho", 0x3C1), ("sigma", 0x3C3),
    ("tau", 0x3C4), ("upsilon", 0x3C5), ("phi", 0x3D5), ("varphi", 0x3C6), ("chi", 0x3C7), ("psi", 0x3C8),
    ("omega", 0x3C9), ("Gamma", 0x393), ("Delta", 0x394), ("Theta", 0x398), ("Lambda", 0x39B), ("Xi", 0x39E),
    ("Pi", 0x3A0), ("Sigma", 0x3A3), ("Upsilon", 0x3A5), ("Phi", 0x3A6), ("Psi", 0x3A8), ("Omega", 0x3A9))}
_SYMBOLS = {"partial": ("mi", "∂"), "nabla": ("mi", "∇"), "infty": ("mi", "∞"), "ell": ("mi", "ℓ"),
            "cdot": ("mo", "⋅"), "times": ("mo", "×"), "odot": ("mo", "⊙"), "otimes": ("mo", "⊗"), "circ": ("mo", "∘"),
            "pm": ("mo", "±"), "mp": ("mo", "∓"), "div": ("mo", "÷"), "ast": ("mo", "∗"), "star": ("mo", "⋆"),
            "leq": ("mo", "≤"), "le": ("mo", "≤"), "geq": ("mo", "≥"), "ge": ("mo", "≥"), "neq": ("mo", "≠"),
            "ne": ("mo", "≠"), "approx": ("mo", "≈"), "sim": ("mo", "∼"), "equiv": ("mo", "≡"), "propto": ("mo", "∝"),
            "to": ("mo", "→"), "rightarrow": ("mo", "→"), "leftarrow": ("mo", "←"), "gets": ("mo", "←"),
            "Rightarrow": ("mo", "⇒"), "mapsto": ("mo", "↦"), "in": ("mo", "∈"), "notin": ("mo", "∉"),
            "subset": ("mo", "⊂"), "cup": ("mo", "∪"), "cap": ("mo", "∩"), "forall": ("mo", "∀"), "exists": ("mo", "∃"),
            "ldots": ("mo", "…"), "cdots": ("mo", "⋯"), "dots": ("mo", "…"), "vdots": ("mo", "⋮"),
            "sum": ("mo", "∑"), "prod": ("mo", "∏"), "int": ("mo", "∫"), "lbrace": ("mo", "{"), "rbrace": ("mo", "}"),
            "{": ("mo", "{"), "}": ("mo", "}"), "|": ("mo", "‖"), "lVert": ("mo", "‖"), "rVert": ("mo", "‖"),
            "langle": ("mo", "⟨"), "rangle": ("mo", "⟩"), "top": ("mi", "⊤"), "intercal": ("mi", "⊺"),
            "prime": ("mo", "′"), "%": ("mo", "%"), "$": ("mo", "$"), "_": ("mo", "_"), "#": ("mo", "#"),
            "&": ("mo", "&")}
_FUNCTIONS = frozenset({"log", "ln", "exp", "sin", "cos", "tan", "tanh", "sinh", "cosh", "max", "min", "arg",
                        "argmax", "argmin", "det", "dim", "lim", "sup", "inf", "sgn"})
_ACCENTS = {"hat": "^", "widehat": "^", "bar": "¯", "overline": "¯", "tilde": "~", "widetilde": "~", "vec": "→",
            "dot": "˙", "ddot": "¨"}
_STYLES = {"mathrm": "normal", "mathbf": "bold", "mathit": "italic", "boldsymbol": "bold-italic", "bm": "bold-italic",
           "mathcal": "script", "mathbb": "double-struck", "operatorname": "normal"}
_TEXTS = frozenset({"text", "textrm", "textit", "textbf", "mbox"})
_SPACES = {",": "0.1667em", ":": "0.2222em", ";": "0.2778em", "quad": "1em", "qquad": "2em", " ": "0.25em"}
_IGNORED = frozenset({"!", "displaystyle", "textstyle", "limits", "nolimits", "big", "Big", "bigg", "Bigg", "bigl",
                      "bigr", "Bigl", "Bigr"})
_FENCES = {"(": "(", ")": ")", "[": "[", "]": "]", "\\{": "{", "\\}": "}", "|": "|", "\\|": "‖", ".": "",
           "\\langle": "⟨", "\\rangle": "⟩", "\\lVert": "‖", "\\rVert": "‖", "\\vert": "|", "\\Vert": "‖"}
_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[A-Za-z]|[0-9]+(?:\.[0-9]+)?|\s+|.", re.DOTALL)
_OPERATORS = frozenset("+-=<>()[],;:/|!?*.'")
_MARKUP = re.compile(r"(<[^>]*>)")
_VERBATIM = frozenset({"code", "pre"})


class _Unknown(Exception):
    """Something this converter does not know: the formula stays as its source."""


def render(fragment: str) -> str:
    """Cleaned HTML with each formula outside code and pre as MathML (display math as a block)."""
    out: list[str] = []
    verbatim, left = 0, MAX_FORMULAS
    for piece in _MARKUP.split(fragment):
        if piece.startswith("<"):
            name = piece[1:].lstrip("/").split(None, 1)[0].rstrip(">").lower() if len(piece) > 2 else ""
            if name in _VERBATIM:
                verbatim = max(0, verbatim + (-1 if piece.startswith("</") else 1))
            out.append(piece)
        else:
            if verbatim or "$" not in piece or not left:
                out.append(piece)
            else:
                converted, count = _formulas(piece, left)
                out.append(converted)
                left -= count
    return "".join(out)


def _formulas(text: str, most: int) -> tuple[str, int]:
    """Escaped text with its first `most` `$$...$$` and `$...$` converted, and how many there were; once a closing
    delimiter is missing, none is sought."""
    out: list[str] = []
    position, inline_closes, display_closes, converted = 0, True, True, 0
    while converted < most:
        start = text.find("$", position)
        while start > 0 and text[start - 1] == "\\":  # \$ is a dollar sign, not a delimiter
            start = text.find("$", start + 1)
        if start < 0:
            break
        display = text.startswith("$$", start)
        opening = 2 if display else 1
        end = -1
        if display and display_closes:
            end = text.find("$$", start + 2)
            display_closes = end >= 0
        elif not display and inline_closes:
            end = text.find("$", start + 1)
            inline_closes = end >= 0
        if end < 0:
            out.append(text[position:start + opening])
            position = start + opening
            if not (inline_closes or display_closes):
                break
            continue
        out.append(text[position:start])
        out.append(formula(unescape(text[start + opening:end]), display) or text[start:end + opening])
        position = end + opening
        converted += 1
    out.append(text[position:])
    return "".join(out), converted


def formula(latex: str, display: bool = False) -> str | None:
    """`latex` (no delimiters) as a `<math>` element, or None where the converter does not know all of it."""
    if not latex.strip() or len(latex) > MAX_FORMULA:
        return None
    try:
        parser = _Parser(_TOKEN.findall(latex))
        body = parser.sequence(0)
        if parser.position != len(parser.tokens):
            raise _Unknown("unbalanced }")
    except _Unknown:
        return None
    block = ' display="block"' if display else ""
    return f'<math{block}><mrow>{body}</mrow></math>'


class _Parser:
    """Recursive descent over the formula's tokens, each consumed once."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0

    def _peek(self) -> str | None:
        while self.position < len(self.tokens) and self.tokens[self.position].isspace():
            self.position += 1
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _next(self) -> str:
        token = self._peek()
        if token is None:
            raise _Unknown("formula ends early")
        self.position += 1
        return token

    def sequence(self, depth: int, stop: str | None = None) -> str:
        """Atoms with their scripts up to `stop` (a `}` or `\\right`, not consumed) or the end."""
        if depth > MAX_DEPTH:
            raise _Unknown("nested too deep")
        parts = []
        while (token := self._peek()) is not None and token != stop:
            if token == "}":
                raise _Unknown("unbalanced }")
            parts.append(self._scripted(depth))
        return "".join(parts)

    def _scripted(self, depth: int) -> str:
        base = self._atom(depth)
        scripts: dict[str, str] = {}
        while (token := self._peek()) in ("^", "_", "'"):
            self.position += 1
            if token == "'":
                scripts["^"] = scripts.get("^", "") + "<mo>′</mo>"
                continue
            if token in scripts:
                raise _Unknown("double script")
            scripts[token] = self._argument(depth)
        if "^" in scripts and "_" in scripts:
            return f"<msubsup>{base}<mrow>{scripts['_']}</mrow><mrow>{scripts['^']}</mrow></msubsup>"
        if "^" in scripts:
            return f"<msup>{base}<mrow>{scripts['^']}</mrow></msup>"
        if "_" in scripts:
            return f"<msub>{base}<mrow>{scripts['_']}</mrow></msub>"
        return base

    def _argument(self, depth: int) -> str:
        """A group `{...}` or a single atom (as in `x^2`, `\\frac12`)."""
        if self._peek() == "{":
            self.position += 1
            inside = self.sequence(depth + 1, "}")
            self._close()
            return f"<mrow>{inside}</mrow>"
        return self._atom(depth + 1)

    def _close(self) -> None:
        if self._peek() != "}":
            raise _Unknown("missing }")
        self.position += 1

    def _raw_group(self) -> str:
        """The characters of a `{...}` holding text (`\\text{...}`), without nested groups."""
        if self._next() != "{":
            raise _Unknown("text without braces")
        collected = []
        while (token := self.tokens[self.position] if self.position < len(self.tokens) else None) != "}":
            if token is None or token == "{":
                raise _Unknown("text not closed")
            collected.append(token[1:] if token.startswith("\\") and len(token) == 2 else token)
            self.position += 1
        self.position += 1
        return "".join(collected)

    def _atom(self, depth: int) -> str:
        if depth > MAX_DEPTH:  # \frac\frac\frac... nests without a group
            raise _Unknown("nested too deep")
        token = self._next()
        if token == "{":
            inside = self.sequence(depth + 1, "}")
            self._close()
            return f"<mrow>{inside}</mrow>"
        if token.isalpha():
            return f"<mi>{token}</mi>"
        if token[0].isdigit():
            return f"<mn>{token}</mn>"
        if token == "~":
            return '<mspace width="0.25em"></mspace>'
        if token in _OPERATORS:
            return f"<mo>{escape('−' if token == '-' else token)}</mo>"  # LaTeX sets a hyphen in math as a minus
        if token.startswith("\\"):
            return self._command(token[1:], depth)
        if token in ("^", "_", "&", "}", "#", "%"):
            raise _Unknown(f"{token} out of place")
        return f"<mi>{escape(token)}</mi>"  # a letter LaTeX takes as it is (é, ×...)

    def _command(self, name: str, depth: int) -> str:
        if name in _GREEK:
            return f"<mi>{_GREEK[name]}</mi>"
        if name in _SYMBOLS:
            kind, text = _SYMBOLS[name]
            return f"<{kind}>{escape(text)}</{kind}>"
        if name in _FUNCTIONS:
            return f'<mi mathvariant="normal">{name}</mi><mspace width="0.1667em"></mspace>'
        if name in ("frac", "dfrac", "tfrac"):
            return f"<mfrac>{self._argument(depth)}{self._argument(depth)}</mfrac>"
        if name == "sqrt":
            if self._peek() == "[":
                self.position += 1
                index = self.sequence(depth + 1, "]")
                if self._next() != "]":
                    raise _Unknown("root index not closed")
                return f"<mroot>{self._argument(depth)}<mrow>{index}</mrow></mroot>"
            return f"<msqrt>{self._argument(depth)}</msqrt>"
        if name in _ACCENTS:
            return f'<mover accent="true">{self._argument(depth)}<mo>{escape(_ACCENTS[name])}</mo></mover>'
        if name in _STYLES:
            if self._peek() != "{":
                return f'<mstyle mathvariant="{_STYLES[name]}">{self._atom(depth + 1)}</mstyle>'
            text = self._raw_group()
            if text.isalnum():
                return f'<mi mathvariant="{_STYLES[name]}">{escape(text)}</mi>'
            return f'<mtext mathvariant="{_STYLES[name]}">{escape(text)}</mtext>'
        if name in _TEXTS:
            return f"<mtext>{escape(self._raw_group())}</mtext>"
        if name in _SPACES:
            return f'<mspace width="{_SPACES[name]}"></mspace>'
        if name in _IGNORED:
            return ""
        if name == "left":
            opening = self._fence()
            inside = self.sequence(depth + 1, "\\right")
            if self._next() != "\\right":
                raise _Unknown("\\left without \\right")
            closing = self._fence()
            return f'<mrow><mo fence="true">{opening}</mo>{inside}<mo fence="true">{closing}</mo></mrow>'
        raise _Unknown(f"\\{name}")

    def _fence(self) -> str:
        token = self._next()
        if token not in _FENCES:
            raise _Unknown(f"fence {token}")
        return escape(_FENCES[token])
