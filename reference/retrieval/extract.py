"""Text extraction from uploaded files, for vector store ingestion.

`extract_text(filename, content, mime)` returns plain text for the file_search document types
we support: txt, md, json, jsonl, csv, html and pdf. The filename is only ever used for its
extension: it is client data, never a path on this machine (no open(), no os.path joins).

The type is chosen from the extension first, then from the MIME type: clients uploading
through the Files API usually send `application/octet-stream` (the OpenAI SDK does), so the
extension is the more reliable signal, and OpenAI's file_search support list is keyed by
extension too. A `charset=` parameter on the MIME type is honoured when decoding.

Errors (`UnsupportedFileType`, `EmptyDocument`, `UnreadableDocument`) are `RetrievalError`s
that the HTTP layer maps to 400.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import PurePosixPath

from reference.retrieval.errors import EmptyDocument, UnreadableDocument, UnsupportedFileType

# kind -> extensions and MIME types that select it.
_EXTENSIONS: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
_MIME_TYPES: dict[str, str] = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "application/json": "json",
    "application/jsonl": "jsonl",
    "application/x-jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
    "application/jsonlines": "jsonl",
    "application/x-jsonlines": "jsonl",
    "text/csv": "csv",
    "application/csv": "csv",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(sorted(_EXTENSIONS))
SUPPORTED_MIME_TYPES: tuple[str, ...] = tuple(sorted(_MIME_TYPES))


def _extension(filename: str) -> str:
    # Only the last component's suffix matters; both separators count so that a Windows-style
    # "C:\\docs\\a.pdf" and "../../etc/passwd" are treated as names, never as paths.
    return PurePosixPath(re.split(r"[\\/]", filename)[-1]).suffix.lower()


def _parse_mime(mime: str | None) -> tuple[str, str | None]:
    if not mime:
        return "", None
    main, _, params = mime.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"').lower()
    return main.strip().lower(), charset


def detect_kind(filename: str, mime: str | None) -> str:
    """Return the document kind (`text`, `markdown`, `json`, `jsonl`, `csv`, `html`, `pdf`)."""
    ext = _extension(filename)
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    mime_type, _ = _parse_mime(mime)
    if mime_type in _MIME_TYPES:
        return _MIME_TYPES[mime_type]
    shown = ext or "(none)"
    raise UnsupportedFileType(
        f"Unsupported file type for file_search: extension {shown!r}, MIME type {mime_type or '(none)'!r}. "
        f"Supported extensions: {', '.join(SUPPORTED_EXTENSIONS)}.",
        param="file",
    )


def _decode(content: bytes, charset: str | None) -> str:
    """Decode text: BOMs first, then the declared charset, then UTF-8 (strict)."""
    if content.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = charset or "utf-8"
    try:
        text = content.decode(encoding)
    except LookupError as exc:
        raise UnreadableDocument(f"Unknown charset {charset!r} in the file's content type.", "file") from exc
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(
            f"The file is not valid {encoding} text (byte {exc.start}): upload UTF-8 text.", "file"
        ) from exc
    if "\x00" in text:
        # NUL in decoded text means a binary file posing as text.
        raise UnreadableDocument("The file contains NUL bytes: it looks binary, not text.", "file")
    return text


def _plain(text: str) -> str:
    return text


def _json(text: str) -> str:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableDocument(
            f"The file is not valid JSON: {exc.msg} (line {exc.lineno}).", "file"
        ) from exc
    if not _has_content(value):
        return ""  # `{}`, `[]`, `""`, `null`: nothing to retrieve -> EmptyDocument
    # Keys are kept: they carry meaning ("title", "author") that retrieval should see.
    return json.dumps(value, indent=2, ensure_ascii=False)


def _has_content(value: object) -> bool:
    if isinstance(value, dict):
        return any(_has_content(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_content(v) for v in value)
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None


def _jsonl(text: str) -> str:
    lines = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UnreadableDocument(
                f"Line {lineno} of the JSONL file is not valid JSON: {exc.msg}.", "file"
            ) from exc
        if _has_content(value):
            lines.append(json.dumps(value, ensure_ascii=False))
    return "\n".join(lines)


def _csv(text: str) -> str:
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise UnreadableDocument(f"The file is not valid CSV: {exc}.", "file") from exc
    return "\n".join(" | ".join(cell.strip() for cell in row) for row in rows if any(c.strip() for c in row))


# Elements that end a line of text.
_BLOCK_TAGS = (
    "p div br li ul ol tr table section article header footer h1 h2 h3 h4 h5 h6 pre blockquote hr "
    "title dt dd nav aside main figure figcaption form"
)


class _TextOfHTML(HTMLParser):
    """Collects visible text; drops script/style/etc. and breaks lines at block elements."""

    # Not "head": HTML lets </head> be omitted, and skipping until it would drop the body. What
    # <head> holds besides <title> (meta, link, script, style) has no text or is skipped anyway.
    _SKIP = frozenset({"script", "style", "noscript", "template", "svg"})
    _BLOCK = frozenset(_BLOCK_TAGS.split())

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._title: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skipping += 1
        if tag in self._BLOCK or tag in ("td", "th"):
            self.parts.append("\n" if tag in self._BLOCK else " ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <hr/>: a line break, but never a skipped region left open.
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP and self._skipping:
            self._skipping -= 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            # The title names the document: it leads the extracted text.
            self._title.append(data)
        elif not self._skipping:
            self.parts.append(data)

    def text(self) -> str:
        title = " ".join("".join(self._title).split())
        lines = [" ".join(line.split()) for line in "".join(self.parts).split("\n")]
        body = "\n".join(line for line in lines if line)
        return f"{title}\n{body}" if title and body else title or body


def _html(text: str) -> str:
    parser = _TextOfHTML()
    parser.feed(text)
    parser.close()
    return parser.text()


def _pdf(content: bytes) -> str:
    # pypdf is pure Python; imported here so text-only users never pay for it.
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument("The PDF is encrypted with a password.", "file")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableDocument:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        # pypdf raises a variety of exceptions on malformed input; all mean "not a usable PDF".
        raise UnreadableDocument(f"The file is not a readable PDF: {exc}", "file") from exc
    return "\n\n".join(page.strip() for page in pages if page.strip())


_TEXT_EXTRACTORS: dict[str, Callable[[str], str]] = {
    "text": _plain,
    "markdown": _plain,
    "json": _json,
    "jsonl": _jsonl,
    "csv": _csv,
    "html": _html,
}


def extract_text(filename: str, content: bytes, mime: str | None = None) -> str:
    """Return the text of an uploaded file.

    Raises `UnsupportedFileType` for types we cannot read, `EmptyDocument` when there is no
    text, `UnreadableDocument` when the bytes are not what the type claims.
    """
    kind = detect_kind(filename, mime)
    if not content:
        raise EmptyDocument("The file is empty.", "file")
    if kind == "pdf":
        text = _pdf(content)
    else:
        _, charset = _parse_mime(mime)
        text = _TEXT_EXTRACTORS[kind](_decode(content, charset))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise EmptyDocument("The file contains no extractable text.", "file")
    return text
