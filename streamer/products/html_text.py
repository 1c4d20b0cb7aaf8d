"""HTML in product data (Shopify ``body_html``, descriptions pasted from a shop) as text a host can read out.

Pure (:mod:`html.parser` and :mod:`streamer.untrusted`): paragraphs, headings, table rows and list items become
sentences, entities are decoded, scripts, styles and other non-text elements are removed, and each block's
characters follow :func:`streamer.untrusted.clean_untrusted` (controls, bidi and zero-width characters out,
whitespace collapsed). Never raises for bad markup (unclosed tags and stray ``<`` are read as well as they can be).

Imported lazily by :mod:`streamer.loading` (this package imports the loader).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from streamer.untrusted import clean_untrusted

#: Markup that looks like HTML: a tag (``<p>``, ``</li>``, ``<br/>``, ``<!-- -->``) or an entity (``&amp;``, ``&#39;``).
_HTML = re.compile(
    r"<(?:[a-zA-Z][a-zA-Z0-9]*\b[^<>]*|/[a-zA-Z][a-zA-Z0-9]*\s*|!--.*?--)>|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]{2,8});",
    re.S,
)
_SENTENCE_END = re.compile(r"[.!?。！？…:;)\]\"'”’]$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_CJK_OR_MARK = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")

#: Elements whose content is never text for a viewer.
_SKIP = frozenset({"script", "style", "noscript", "template", "iframe", "svg", "object", "head", "title", "button"})
#: Elements that end one block of text and start the next.
_BLOCK = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "table",
        "tbody",
        "thead",
        "figure",
        "figcaption",
        "hr",
        "br",
        "pre",
        "address",
    }
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
#: Bounds: a product description is a few kB; anything far bigger is cut rather than parsed for seconds.
MAX_HTML_CHARS = 200_000
MAX_BLOCKS = 500


def looks_like_html(text: str) -> bool:
    """True when ``text`` holds a tag or an entity (``a < b`` and ``5<10 cm`` do not count)."""
    return ("<" in text or "&" in text) and _HTML.search(text) is not None


@dataclass(frozen=True, slots=True)
class HtmlBlock:
    """One piece of text: ``kind`` is ``"p"`` (paragraph or other block), ``"li"`` (a list item), ``"h"`` (a heading)
    or ``"row"`` (a table row, its cells joined: ``Material: cotton``)."""

    kind: str
    text: str


class _BlockParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[HtmlBlock] = []
        self._parts: list[str] = []
        self._kind = "p"
        self._skip_depth = 0
        self._cells: list[str] | None = None

    def _flush(self) -> None:
        # A shop's text is not ours: the untrusted-text policy (controls, bidi and zero-width characters out, NFC,
        # whitespace collapsed), without NFKC (Chinese punctuation stays as written) and without a cap.
        text = clean_untrusted("".join(self._parts), None)
        self._parts = []
        if self._cells is not None:
            if text:
                self._cells.append(text)
            return
        if text and len(self.blocks) < MAX_BLOCKS:
            self.blocks.append(HtmlBlock(self._kind, text))
        self._kind = "p"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
            return
        if self._skip_depth:
            return
        if tag == "tr":
            self._flush()
            self._cells = []
        elif tag in ("td", "th"):
            self._flush()
        elif tag == "li":
            self._flush()
            self._kind = "li"
        elif tag in _HEADINGS:
            self._flush()
            self._kind = "h"
        elif tag in _BLOCK:
            self._flush()
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._parts.append(f" {alt} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if self._skip_depth:
            return
        if tag in ("td", "th"):
            self._flush()
        elif tag == "tr":
            self._flush()
            cells, self._cells = self._cells or [], None
            if cells and len(self.blocks) < MAX_BLOCKS:
                text = ": ".join(cells) if len(cells) == 2 else ", ".join(cells)
                self.blocks.append(HtmlBlock("row", text))
        elif tag == "li" or tag in _HEADINGS or tag in _BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self._parts.append(data)

    def close(self) -> None:
        super().close()
        self._flush()
        if self._cells:
            self.blocks.append(HtmlBlock("row", ", ".join(self._cells)))
            self._cells = None


def html_blocks(html: str) -> list[HtmlBlock]:
    """The text blocks of ``html`` in order (see :class:`HtmlBlock`); at most ``MAX_BLOCKS``."""
    parser = _BlockParser()
    parser.feed(html[:MAX_HTML_CHARS])
    parser.close()
    return parser.blocks


def as_sentence(text: str) -> str:
    """``text`` ending like a sentence: a full stop is added unless it ends with punctuation (``。`` after
    Chinese or Japanese)."""
    text = text.strip()
    if not text or _SENTENCE_END.search(text):
        return text
    return text + ("。" if _CJK.search(text[-1]) else ".")


def _join(blocks: list[HtmlBlock]) -> str:
    sentences: list[str] = []
    for i, block in enumerate(blocks):
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        # "Features:" over a list only labels it; the items say everything.
        if block.text.endswith((":", "：")) and nxt is not None and nxt.kind == "li":
            continue
        sentences.append(as_sentence(block.text))
    text = ""
    for s in sentences:
        sep = "" if not text or (_CJK_OR_MARK.search(text[-1]) and _CJK_OR_MARK.search(s[:1])) else " "
        text += sep + s
    return text


def html_to_text(html: str) -> str:
    """Readable text of ``html``: blocks and list items as sentences one after another, entities decoded, scripts
    and styles gone. Text with entities but no block markup stays one piece (``Tom &amp; Jerry`` ->
    ``Tom & Jerry``), without a full stop added."""
    blocks = html_blocks(html)
    if len(blocks) == 1 and blocks[0].kind == "p":
        return blocks[0].text
    return _join(blocks)


def html_sections(html: str) -> tuple[str, list[str]]:
    """``body_html`` split the way a sheet holds it: (description from the paragraphs, headings and tables;
    features from the list items). Without list items the description has everything; with list items only,
    the description is empty."""
    blocks = html_blocks(html)
    items = [b.text for b in blocks if b.kind == "li"]
    rest = [b for b in blocks if b.kind != "li"]
    if items:
        rest = [b for b in rest if not b.text.endswith((":", "："))]
    return _join(rest), items


__all__ = ["HtmlBlock", "as_sentence", "html_blocks", "html_sections", "html_to_text", "looks_like_html"]
