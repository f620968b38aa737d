"""``responses-conformance``: list the cases, or run them against a gateway.

Exit codes: 0 conformant (no MUST case failed, errored or was blocked; with --strict no SHOULD
either), 1 not conformant, 2 usage error, a target that could not be started or one that fails
the pre-flight (``conformance.preflight``: unreachable, no API root, key refused), 3 a built-in target that
cannot run on this machine (no Docker engine, an image that cannot be pulled): skipped, no report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from rich.console import Console
from rich.markup import escape

from conformance import reports
from conformance.context import RunConfig
from conformance.events import Reporter
from conformance.model import REGISTRY, Case, select, unmatched_patterns, with_probes
from conformance.preflight import PreflightError, parse_hostport, preflight
from conformance.profiles import PROFILES
from conformance.runner import load_waivers, run_cases
from conformance.targets import BUILTIN_TARGETS, TargetError, TargetUnavailable, builtin_target

if TYPE_CHECKING:
    from conformance.schema import SchemaValidator

T = TypeVar("T")


def load_cases() -> list[Case]:
    import conformance.cases  # noqa: F401  (registers the built-in cases)

    return REGISTRY.all()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="responses-conformance", description="Conformance harness for OpenAI-Responses-API gateways."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    lp = sub.add_parser("list", help="print every case id with its level, tier and title")
    lp.add_argument("--cases", action="append", default=[], metavar="GLOB")
    lp.add_argument("--exclude", action="append", default=[], metavar="GLOB")
    lp.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="openai",
        help="show each case's level under this profile (its specification may set another one)",
    )
    lp.add_argument(
        "--areas",
        action="store_true",
        help="print the index of areas instead (one module of conformance/cases each): area, "
        "number of selected cases, what it covers",
    )

    rp = sub.add_parser("run", help="run the cases against a gateway")
    tg = rp.add_mutually_exclusive_group()
    tg.add_argument(
        "--base-url",
        help="the gateway's API root, e.g. http://127.0.0.1:8080/v1 (default: $OPENAI_BASE_URL, as the "
        "OpenAI SDK reads it)",
    )
    tg.add_argument("--target", choices=BUILTIN_TARGETS, help="start a built-in target and test it")
    rp.add_argument("--extproc", metavar="HOST:PORT", help="an Envoy ext_proc gRPC server to drive as Envoy")
    rp.add_argument("--profile", choices=sorted(PROFILES), default="openai")
    rp.add_argument(
        "--cases",
        action="append",
        default=[],
        metavar="GLOB",
        help="only case ids matching (repeatable, comma-separated; an id prefix selects an area)",
    )
    rp.add_argument("--exclude", action="append", default=[], metavar="GLOB")
    rp.add_argument("--strict", action="store_true", help="unmet SHOULD cases also make the run fail")
    rp.add_argument("--report-dir", help="where reports go (default conformance-reports/<target>/)")
    rp.add_argument("--junit", metavar="FILE", help="JUnit XML path (default <report-dir>/junit.xml)")
    rp.add_argument("--json", metavar="FILE", help="JSON index path (default <report-dir>/report.json)")
    rp.add_argument("--html", metavar="FILE", help="HTML report path (default <report-dir>/report.html)")
    rp.add_argument(
        "--markdown", metavar="FILE", help="also write a Markdown summary (e.g. for a CI job page)"
    )
    rp.add_argument("--model", default="scripted", help="model name sent in requests (default scripted)")
    rp.add_argument(
        "--api-key",
        metavar="KEY",
        help="the bearer token (prefer --api-key-env: a command line is visible to other users)",
    )
    rp.add_argument(
        "--second-api-key-env",
        metavar="VAR",
        help="environment variable holding a key of another tenant than the run's key: the "
        "tenants.* cases check that neither sees the other's objects (UNIMPLEMENTED without it)",
    )
    rp.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable holding the bearer token; without --api-key or --api-key-env the "
        "key is $OPENAI_API_KEY when set, as the OpenAI SDK reads it",
    )
    rp.add_argument(
        "--no-preflight",
        action="store_true",
        help="skip the pre-flight check (one POST /responses that must not answer 401, 404 or 405)",
    )
    rp.add_argument("--openapi", metavar="PATH",
                    help="validate objects against this OpenAPI document instead of the schemas the "
                         "harness ships for the profile")
    rp.add_argument("--no-openapi", action="store_true", help="no schema validation")
    rp.add_argument(
        "--mcp-server-url",
        metavar="URL",
        help="an MCP server the gateway can reach, for the mcp tool cases (e.g. "
        "`python -m fixtures.mcp_server --port 0`); built-in targets start one themselves",
    )
    rp.add_argument(
        "--waivers",
        metavar="FILE",
        help="TOML [waivers] table of case id = reason: known limitations of the target; a waived "
        "case's FAIL/ERROR is reported as SKIPPED with the reason",
    )
    rp.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    rp.add_argument("--quiet", action="store_true", help="no per-case progress lines")
    return parser


def target_slug(base_url: str) -> str:
    parts = urlsplit(base_url)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{parts.hostname or 'target'}_{parts.port or ''}").strip("_")


def selection(args: argparse.Namespace, console: Console) -> list[Case] | None:
    """The cases ``--cases``/``--exclude`` pick; None (reported) when a ``--cases`` pattern
    matches no case at all, which is a typo rather than an empty area."""
    every = load_cases()
    missing = unmatched_patterns(every, args.cases)
    if missing:
        from conformance.cases import AREAS

        console.print(
            f"[red]--cases {escape(', '.join(missing))} matches no case.[/] Areas: "
            + escape(", ".join(AREAS)),
            soft_wrap=True,
        )
        return None
    return select(every, args.cases, args.exclude)


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    cases = selection(args, console)
    if cases is None:
        return 2
    if args.areas:
        return list_areas(cases, console)
    for c in cases:
        profiles = "" if len(c.profiles) > 1 else f" [{c.profiles[0]} only]"
        level = c.level_for(args.profile).value  # the level under --profile
        # one line per case however narrow the terminal (and unwrapped when piped)
        console.print(
            f"{c.id:<52} {level:<6} {c.tier.value:<10} {escape(c.title)}{escape(profiles)}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"{len(cases)} cases (levels under --profile {args.profile})", style="dim")
    return 0


def list_areas(cases: list[Case], console: Console) -> int:
    from conformance.cases import AREAS, area_of

    counts = Counter(area_of(c) for c in cases)
    # cases registered outside conformance.cases (plug-ins) are listed under their module
    areas = {**AREAS, **{a: "" for a in counts if a not in AREAS}}
    shown = [a for a in areas if counts[a]]
    width = max((len(a) for a in shown), default=0)
    for area in shown:
        console.print(
            f"{area:<{width}} {counts[area]:>4}  {escape(areas[area])}", highlight=False, soft_wrap=True
        )
    console.print(f"{len(shown)} areas, {len(cases)} cases", style="dim")
    return 0


def file_reporters(args: argparse.Namespace, report_dir: Path) -> list[reports.FileReporter]:
    out = [
        reports.json_reporter(args.json or report_dir / "report.json"),
        reports.junit_reporter(args.junit or report_dir / "junit.xml"),
        reports.html_reporter(args.html or report_dir / "report.html"),
    ]
    if args.markdown:
        out.append(reports.markdown_reporter(args.markdown))
    return out


class _BadOption(Exception):
    """An option file that cannot be loaded (already reported)."""


def _load_option(console: Console, flag: str, path: str, load: Callable[[str], T]) -> T:
    try:
        return load(path)
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot load {flag} {escape(path)}: {escape(str(exc))}[/]")
        raise _BadOption from exc


def _schema(path: str) -> SchemaValidator:
    from conformance.schema import SchemaValidator

    return SchemaValidator(path)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    cases = selection(args, console)
    if cases is None:
        return 2
    if not cases:
        console.print("[red]no case matches the selection[/]")
        return 2
    # a case selected without its area's probe still gets it: BLOCKED beats a FAIL per case
    cases = with_probes(cases, REGISTRY.all())
    if not args.target and not args.base_url:
        args.base_url = os.environ.get("OPENAI_BASE_URL") or None
        if not args.base_url:
            console.print("[red]give --base-url URL or --target NAME (or set OPENAI_BASE_URL)[/]")
            return 2
    if args.extproc:
        try:
            parse_hostport(args.extproc)
        except PreflightError as exc:
            console.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
            return 2
    api_key, api_key_env = args.api_key, None
    if args.api_key_env:
        api_key, api_key_env = os.environ.get(args.api_key_env), args.api_key_env
        if not api_key:
            console.print(f"[red]environment variable {escape(args.api_key_env)} is not set[/]")
            return 2
    elif not api_key and os.environ.get("OPENAI_API_KEY"):
        api_key, api_key_env = os.environ["OPENAI_API_KEY"], "OPENAI_API_KEY"
    second_api_key = None
    if args.second_api_key_env:
        second_api_key = os.environ.get(args.second_api_key_env)
        if not second_api_key:
            console.print(f"[red]environment variable {escape(args.second_api_key_env)} is not set[/]")
            return 2
    try:
        waivers = _load_option(console, "--waivers", args.waivers, load_waivers) if args.waivers else {}
        if args.no_openapi:
            validator = None
        elif args.openapi:
            validator = _load_option(console, "--openapi", args.openapi, _schema)
        else:
            from conformance.schema import SchemaValidator

            validator = SchemaValidator.for_profile(args.profile)
    except _BadOption:
        return 2

    with contextlib.ExitStack() as stack:
        if args.target:
            name = args.target
            console.print(f"starting built-in target [bold]{name}[/] ...")
            try:
                running = stack.enter_context(
                    builtin_target(name, timeout=max(args.timeout, 60.0), profile=args.profile)
                )
            except TargetUnavailable as exc:
                console.print(f"[yellow]skipped: target {name} cannot run here:[/] {escape(str(exc))}",
                              highlight=False)
                return 3
            except TargetError as exc:
                console.print(
                    f"[red]could not start target {name}:[/] {escape(str(exc))}",
                    highlight=False,
                    soft_wrap=True,
                )
                return 2
            base_url, extproc = running.base_url, args.extproc or running.extproc
            mcp_url = args.mcp_server_url or running.mcp_server_url
            console.print(
                escape(f"target {name} at {base_url}" + (f", ext_proc {extproc}" if extproc else "")),
                highlight=False,
            )
        else:
            base_url, extproc, name = args.base_url, args.extproc, target_slug(args.base_url)
            mcp_url = args.mcp_server_url
        config = RunConfig(
            base_url=base_url,
            profile=PROFILES[args.profile],
            model=args.model,
            api_key=api_key,
            api_key_env=api_key_env,
            api_key_explicit=bool(args.api_key or args.api_key_env),
            second_api_key=second_api_key,
            timeout=args.timeout,
            extproc=extproc,
            target_name=name,
            validator=validator,
            mcp_server_url=mcp_url,
            waivers=waivers,
        )

        if not args.no_preflight:
            try:
                asyncio.run(preflight(config))
            except PreflightError as exc:
                console.print(f"[red]pre-flight: {escape(str(exc))}[/]", soft_wrap=True, highlight=False)
                return 2
        files = file_reporters(args, Path(args.report_dir or Path("conformance-reports") / name))
        console_reporter = reports.ConsoleReporter(console, progress=not args.quiet)
        others: list[Reporter] = [console_reporter]
        if reports.GitHubReporter.wanted(dict(os.environ)):
            others.append(reports.GitHubReporter(console, dict(os.environ)))
        run = asyncio.run(run_cases(cases, config, strict=args.strict, reporters=[*files, *others]))

    for reporter in files:
        console.print(f"{reporter.kind:>5}: {reporter.written}", highlight=False)
    return run.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    if args.command == "list":
        return cmd_list(args, console)
    return cmd_run(args, console)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
