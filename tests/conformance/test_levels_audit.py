"""The audit of levels per profile: every normative sentence of the Open Responses text is listed
and quoted verbatim, every case citing one is judged at its level under the openresponses
profile, and the committed table docs/levels-audit.md is the one the script writes."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

import conformance.cases  # noqa: F401  (registers the built-in cases)
from conformance.cases._openresponses import LEVEL_OF, SENTENCES, SPEC_FILE, Sentence
from conformance.model import REGISTRY, Level

ROOT = Path(__file__).resolve().parents[2]
SPEC_TEXT = ROOT.parent / "shared" / "specs" / SPEC_FILE
_KEYWORD = re.compile(r"\b(MUST|SHOULD|MAY|REQUIRED|SHALL|RECOMMENDED|OPTIONAL)\b")
_ORDER = [Level.MUST, Level.SHOULD, Level.INFO]


def _norm(text: str) -> str:
    return " ".join(text.split())


def normative_sentences(text: str) -> list[str]:
    """The sentences of the specification text holding an RFC 2119 keyword (in capitals), the
    paragraph that defines the keywords left out."""
    out = []
    for line in text.splitlines():
        if "key words" in line or not _KEYWORD.search(line):
            continue
        for sentence in re.split(r"(?<=[.;])\s+(?=[A-Z`\-])", line.strip()):
            if _KEYWORD.search(sentence):
                out.append(_norm(sentence).removesuffix(" |"))  # the last cell of a table row
    return out


def _cited(spec: str) -> list[Sentence]:
    return [s for s in SENTENCES if _norm(s.text) in _norm(spec)]


def _or_cases() -> list[tuple[str, str, Level, str]]:
    return [
        (c.id, own.spec, own.level, own.source)
        for c in REGISTRY.all()
        if (own := c.levels.get("openresponses")) is not None
    ]


@pytest.mark.skipif(not SPEC_TEXT.exists(), reason=f"{SPEC_TEXT} not present (../shared/specs)")
def test_every_normative_sentence_is_listed_verbatim() -> None:
    text = SPEC_TEXT.read_text(encoding="utf-8")
    listed = [_norm(s.text) for s in SENTENCES]
    assert sorted(normative_sentences(text)) == sorted(listed)
    whole = _norm(text)
    assert [s for s in listed if s not in whole] == []


def test_each_per_profile_sentence_is_made_of_listed_sentences() -> None:
    """A case's sentence under openresponses quotes listed sentences and nothing else, so the
    test above checks it verbatim against the specification text."""
    assert _or_cases()
    for case_id, spec, _, source in _or_cases():
        assert source.startswith(SPEC_FILE), case_id
        rest = _norm(spec)
        for s in _cited(spec):
            rest = rest.replace(_norm(s.text), "")
        assert not rest.strip(), (case_id, rest)


def test_a_case_has_the_level_of_the_sentences_it_cites() -> None:
    for case_id, spec, level, _ in _or_cases():
        binding = [LEVEL_OF[s.requires] for s in _cited(spec) if s.requires != "MAY"]
        assert binding, case_id
        assert level is min(binding, key=_ORDER.index), case_id


def test_every_server_requirement_is_checked_or_says_why_not() -> None:
    cited = {s.text for _, spec, _, _ in _or_cases() for s in _cited(spec)}
    unaccounted = [
        s.text
        for s in SENTENCES
        if s.requires != "MAY" and not s.client and s.text not in cited and not s.note
    ]
    assert unaccounted == [], "cite the sentence from a case or give it a note"
    for s in SENTENCES:
        for case_id in s.related:
            REGISTRY.get(case_id)  # raises for an unknown id


def test_the_committed_audit_table_is_current() -> None:
    spec = importlib.util.spec_from_file_location("levels_audit", ROOT / "scripts" / "levels_audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run python scripts/levels_audit.py"
