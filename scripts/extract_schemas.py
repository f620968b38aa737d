"""Extract the published schemas the harness ships as package data (``conformance/schemas/``).

A user's machine has no copy of the published specifications, so the harness carries their
*schemas*: ``components.schemas`` of each document with the prose removed (``description``,
``example(s)``, ``x-oaiMeta``) and nothing else changed, plus a record of where they came from
(the document's file name, title and version, its SHA-256, and the source and commit line of
the specifications' README). ``--openapi PATH`` on the harness still takes a full document.

    python scripts/extract_schemas.py                     # from ../shared/specs
    python scripts/extract_schemas.py --specs DIR --out conformance/schemas
    python scripts/extract_schemas.py --check             # exit 1 if the shipped files differ
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: profile name -> the document it is judged against (file names as published beside the repo)
DOCUMENTS = {"openai": "openai-openapi.yaml", "openresponses": "openresponses-openapi.json"}
#: keys that carry prose or examples only; validation never reads them
PROSE = frozenset({"description", "example", "examples", "x-oaiMeta", "x-oaiExpandable"})


#: keywords whose keys are names chosen by the API (a property may be called `description`)
NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "schemas"})


def strip(node: Any, names: bool = False) -> Any:
    if isinstance(node, dict):
        if names:
            return {k: strip(v) for k, v in node.items()}
        return {k: strip(v, k in NAME_MAPS) for k, v in node.items() if k not in PROSE}
    if isinstance(node, list):
        return [strip(v) for v in node]
    if isinstance(node, (datetime.date, datetime.datetime)):  # YAML timestamps inside `enum`s
        return node.isoformat()
    return node


def source_line(specs: Path, file_name: str) -> str:
    """The 'source and version' cell of the specs README's table row for ``file_name``."""
    readme = specs / "README.md"
    if readme.exists():
        for line in readme.read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 3 and cells[0].strip("`") == file_name:
                return cells[-1]
    return "unknown (no README row for this file)"


def extract(specs: Path, profile: str) -> dict[str, Any]:
    file_name = DOCUMENTS[profile]
    path = specs / file_name
    raw = path.read_bytes()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = json.loads(raw) if path.suffix == ".json" else yaml.load(raw, Loader=loader)
    if not isinstance(doc, dict) or "schemas" not in (doc.get("components") or {}):
        raise SystemExit(f"{path}: not an OpenAPI document with components.schemas")
    info = doc.get("info") or {}
    return {
        "openapi": doc.get("openapi", "3.1.0"),
        "info": {"title": info.get("title", ""), "version": str(info.get("version", ""))},
        "x-extracted-from": {
            "file": file_name,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "source": source_line(specs, file_name),
            "kept": "components.schemas, without description, example(s), x-oaiMeta, x-oaiExpandable",
            "by": "scripts/extract_schemas.py",
        },
        "components": {"schemas": strip(doc["components"]["schemas"], names=True)},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--specs", type=Path, default=ROOT.parent / "shared" / "specs",
                        help="directory holding the published documents (default ../shared/specs)")
    parser.add_argument("--out", type=Path, default=ROOT / "conformance" / "schemas")
    parser.add_argument("--check", action="store_true", help="compare with the shipped files, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for profile, file_name in DOCUMENTS.items():
        if not (args.specs / file_name).exists():
            print(f"{args.specs / file_name}: missing (give --specs DIR)", file=sys.stderr)
            return 2
        text = render(extract(args.specs, profile))
        target = args.out / f"{profile}.json"
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(str(target))
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"{target}: {len(text) // 1024} KiB from {file_name}")
    if stale:
        print("out of date (run scripts/extract_schemas.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
