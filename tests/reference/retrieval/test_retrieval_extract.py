"""Text extraction for vector store files (reference.retrieval.extract)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pypdf import PdfWriter

from reference.core.errors import APIError
from reference.retrieval import (
    EmptyDocument,
    RetrievalError,
    UnreadableDocument,
    UnsupportedFileType,
    detect_kind,
    extract_text,
)
from tests.support.documents import minimal_pdf

DOCS = Path(__file__).resolve().parents[3] / "fixtures" / "documents"




def test_plain_text_and_markdown_are_returned_verbatim() -> None:
    content = (DOCS / "solar.txt").read_bytes()
    assert extract_text("solar.txt", content, "text/plain") == content.decode()
    md = (DOCS / "sourdough.md").read_bytes()
    text = extract_text("sourdough.md", md, None)
    assert text.startswith("# Sourdough starter care")
    assert "doubles in size" in text


def test_utf8_bom_and_crlf_are_normalised() -> None:
    assert extract_text("a.txt", b"\xef\xbb\xbfline one\r\nline two\r", None) == "line one\nline two\n"


def test_declared_charset_is_honoured() -> None:
    assert (
        extract_text("a.txt", "caf\u00e9".encode("latin-1"), "text/plain; charset=ISO-8859-1") == "caf\u00e9"
    )


def test_utf16_with_bom_is_decoded() -> None:
    assert extract_text("a.txt", "h\u00e9llo".encode("utf-16"), None) == "h\u00e9llo"


def test_json_keeps_keys_and_values() -> None:
    text = extract_text("glossary.json", (DOCS / "glossary.json").read_bytes(), "application/json")
    assert '"term": "latency"' in text
    assert "requests completed per second" in text
    assert json.loads(text)["glossary"][1]["term"] == "throughput"


def test_jsonl_renders_one_line_per_record_and_skips_blank_lines() -> None:
    text = extract_text("events.jsonl", (DOCS / "events.jsonl").read_bytes(), None)
    lines = text.splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["deploy", "rollback"]


def test_csv_rows_become_lines() -> None:
    text = extract_text("volcanoes.csv", (DOCS / "volcanoes.csv").read_bytes(), "text/csv")
    assert text.splitlines() == [
        "name | country | elevation_m | last_eruption",
        "Etna | Italy | 3357 | 2025",
        "Kilauea | United States | 1247 | 2024",
        "Fuji | Japan | 3776 | 1707",
    ]


def test_csv_quoted_cells_with_commas_and_newlines() -> None:
    text = extract_text("q.csv", b'a,b\n"x, y","line1\nline2"\n', None)
    assert text.splitlines()[1] == "x, y | line1"


def test_html_strips_tags_scripts_and_styles_and_keeps_title() -> None:
    text = extract_text("tides.html", (DOCS / "tides.html").read_bytes(), "text/html")
    assert text.splitlines()[0] == "Why oceans have tides"
    assert "Ocean tides are caused by the gravity of the moon" in text
    assert "two high tides" in text
    for leaked in ("tracking", "font-family", "<p>", "<h1>", "doctype"):
        assert leaked not in text


def test_html_entities_and_block_breaks() -> None:
    html = b"<div>Fish &amp; chips</div><div>caf&eacute;<br>next</div><ul><li>a</li><li>b</li></ul>"
    assert extract_text("x.htm", html, None).splitlines() == ["Fish & chips", "caf\u00e9", "next", "a", "b"]


def test_pdf_text_from_every_page() -> None:
    pdf = minimal_pdf("Quarterly revenue grew nine percent", "Second page about churn")
    text = extract_text("report.pdf", pdf, "application/pdf")
    assert "Quarterly revenue grew nine percent" in text
    assert "Second page about churn" in text
    assert text.index("Quarterly") < text.index("Second page")


def test_pdf_without_text_is_empty_document() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    blank = io.BytesIO()
    writer.write(blank)
    with pytest.raises(EmptyDocument):
        extract_text("scan.pdf", blank.getvalue(), None)


def test_corrupt_pdf_is_unreadable() -> None:
    with pytest.raises(UnreadableDocument):
        extract_text("broken.pdf", b"%PDF-1.4\nthis is not a pdf at all", None)


def test_extension_wins_over_generic_mime_and_mime_is_the_fallback() -> None:
    # The OpenAI SDK uploads with application/octet-stream; the extension decides.
    assert detect_kind("notes.MD", "application/octet-stream") == "markdown"
    assert detect_kind("upload", "text/html; charset=utf-8") == "html"
    assert detect_kind("data.bin", "application/json") == "json"


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/shadow", "C:\\Windows\\system.ini", "x.exe"])
def test_filename_is_never_a_path_and_unknown_types_are_rejected(name: str) -> None:
    # The bytes are what we read; a path-like name must not make us open anything.
    with pytest.raises(UnsupportedFileType) as info:
        extract_text(name, b"root:x:0:0", "application/octet-stream")
    assert info.value.param == "file"
    assert ".txt" in info.value.message  # the message lists what is supported


def test_path_like_name_with_supported_suffix_reads_the_given_bytes() -> None:
    assert extract_text("../../etc/hosts.txt", b"given bytes", None) == "given bytes"


def test_windows_path_uses_last_component_suffix() -> None:
    assert detect_kind("C:\\docs.pdf\\notes.txt", None) == "text"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.txt", b""),
        ("a.txt", b"  \n\t "),
        ("a.json", b'""'),
        ("a.json", b'{"a": [], "b": null}'),
        ("a.jsonl", b"{}\n[]\n"),
        ("a.csv", b",,\n,\n"),
        ("a.html", b"<p> </p>"),
    ],
)
def test_empty_documents(name: str, content: bytes) -> None:
    with pytest.raises(EmptyDocument):
        extract_text(name, content, None)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.txt", b"\xff\xfe\xfa invalid utf-8 \xc3"),
        ("a.txt", b"text\x00with nul"),
        ("a.json", b"{not json"),
        ("a.jsonl", b'{"ok": 1}\n{broken\n'),
        ("a.csv", b'a,"unterminated\n'),
    ],
)
def test_undecodable_documents(name: str, content: bytes) -> None:
    with pytest.raises(UnreadableDocument):
        extract_text(name, content, None)


def test_unknown_charset_is_unreadable() -> None:
    with pytest.raises(UnreadableDocument):
        extract_text("a.txt", b"abc", "text/plain; charset=no-such-codec")


def test_errors_map_to_openai_400() -> None:
    with pytest.raises(RetrievalError) as info:
        extract_text("a.exe", b"MZ", None)
    error = info.value.as_api_error()
    assert isinstance(error, APIError)
    assert error.status == 400
    assert error.body()["error"]["param"] == "file"
    assert error.body()["error"]["type"] == "invalid_request_error"
    assert error.body()["error"]["code"] == "unsupported_file"


def test_html_without_closing_head_keeps_the_body() -> None:
    html = b"<html><head><title>T</title><meta charset=utf-8><body><p>Body text</p><script>x()</script>"
    assert extract_text("page.html", html, None) == "T\nBody text"
