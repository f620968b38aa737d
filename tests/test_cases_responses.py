"""Every issue-4 Responses case PASSes on the reference and is caught on a broken gateway.

The broken gateways are the reference behind ``MutatingProxy`` (tests/test_cases_mutproxy.py)
with one mutation switched on; each case names the mutation that must make it FAIL (MUST) or
NON_STRICT (SHOULD/INFO)."""

from __future__ import annotations

import pytest
from test_cases_mutproxy import MUTATIONS, ProxiedReference, mp, proxied_reference  # noqa: F401  (fixtures)

import conformance.cases
from conformance.context import RunConfig
from conformance.model import REGISTRY, Level, Verdict
from conformance.profiles import PROFILES
from conformance.runner import run_cases

MODULES = {
    m.__name__
    for m in (
        conformance.cases.background,
        conformance.cases.backend_errors,
        conformance.cases.chain,
        conformance.cases.create_input,
        conformance.cases.create_output,
        conformance.cases.create_params,
        conformance.cases.input_items,
        conformance.cases.stream_items,
        conformance.cases.tools,
    )
}

# case id -> the mutation (a gateway bug) that must be caught
BREAKS: dict[str, str] = {
    # responses.params
    "responses.params.temperature-echo": "echo-temperature",
    "responses.params.top-p-echo": "echo-top-p",
    "responses.params.max-output-tokens-echo": "echo-max-output-tokens",
    "responses.params.tool-choice-none-echo": "echo-tool-choice",
    "responses.params.tool-choice-required-echo": "echo-tool-choice",
    "responses.params.tool-choice-function-echo": "echo-tool-choice",
    "responses.params.tool-choice-default-auto": "echo-tool-choice",
    "responses.params.tools-echo": "echo-tools-reversed",
    "responses.params.tool-parameters-echo": "echo-tool-parameters",
    "responses.params.metadata-echo": "echo-metadata",
    "responses.params.parallel-tool-calls-echo": "echo-parallel-tool-calls",
    "responses.params.text-format-json-schema-echo": "echo-text-format",
    "responses.params.text-format-json-object-echo": "echo-text-format",
    "responses.params.text-format-default-text": "echo-text-format",
    "responses.params.instructions-echo": "echo-instructions",
    "responses.params.store-false-echo": "echo-store",
    "responses.params.background-false-echo": "echo-background",
    "responses.params.previous-response-id-null": "echo-previous-response-id",
    "responses.params.scripted-temperature-forwarded": "req-drop-temperature",
    "responses.params.scripted-max-output-tokens-forwarded": "req-drop-max_output_tokens",
    "responses.params.scripted-json-schema-forwarded": "req-drop-text",
    "responses.params.scripted-parallel-tool-calls-forwarded": "req-drop-parallel_tool_calls",
    # responses.input
    "responses.input.string-is-user-message": "req-string-prefixed",
    "responses.input.easy-messages-in-order": "req-input-drop-first",
    "responses.input.typed-input-text-parts": "req-first-part-only",
    "responses.input.developer-role": "req-input-drop-first",
    "responses.input.system-role": "req-input-drop-first",
    "responses.input.assistant-role": "req-assistant-as-user",
    "responses.input.image-url": "req-first-part-only",
    "responses.input.instructions-first": "req-drop-instructions",
    "responses.input.instructions-before-system-input": "req-instructions-late",
    # responses.output
    "responses.output.usage-cached-tokens": "usage-no-details",
    "responses.output.usage-reasoning-tokens": "usage-no-details",
    "responses.output.usage-details-bounded": "usage-cached-too-big",
    "responses.output.scripted-usage-from-model": "usage-off-by-one",
    "responses.output.message-id-prefix": "msg-id-prefix",
    "responses.output.message-status-completed": "msg-status",
    "responses.output.item-ids-unique": "item-ids-same",
    "responses.output.created-at-recent": "created-old",
    "responses.output.completed-at-after-created": "completed-before-created",
    "responses.output.completed-at-null-unless-completed": "completed-at-always",
    "responses.output.error-null-on-success": "error-on-success",
    "responses.output.length-incomplete": "incomplete-as-completed",
    "responses.output.length-reason": "incomplete-reason-swapped",
    "responses.output.length-partial-text-kept": "incomplete-output-dropped",
    "responses.output.content-filter-reason": "incomplete-reason-swapped",
    "responses.output.refusal-part": "refusal-as-text",
    "responses.output.refusal-not-output-text": "refusal-as-text",
    "responses.output.tool-calls-without-empty-message": "empty-message-added",
    # responses.tools
    "responses.tools.function-call-item-shape": "fc-no-call-id",
    "responses.tools.arguments-json-string": "fc-args-object",
    "responses.tools.function-call-status": "fc-status",
    "responses.tools.named-tool-called": "fc-name-first",
    "responses.tools.parallel-calls": "fc-only-first",
    "responses.tools.parallel-call-ids-distinct": "fc-same-call-id",
    "responses.tools.round-trip-previous-response": "req-fc-output-mangled",
    "responses.tools.round-trip-full-input": "req-fc-output-mangled",
    "responses.tools.tool-message-reaches-backend": "req-fc-call-id-mangled",
    "responses.tools.scripted-tool-choice-none-forwarded": "req-tool-choice-auto",
    "responses.tools.scripted-tool-choice-required-forwarded": "req-tool-choice-auto",
    "responses.tools.scripted-tool-choice-function-forwarded": "req-tool-choice-auto",
    "responses.tools.scripted-tools-forwarded": "req-tools-reversed",
    # state.chain
    "state.chain.history-reaches-model": "req-drop-previous",
    "state.chain.three-turns": "req-drop-previous",
    "state.chain.function-calls-carried": "req-drop-previous",
    "state.chain.instructions-not-inherited": "req-inherit-instructions",
    "state.chain.new-instructions-apply": "req-drop-instructions",
    "state.chain.instructions-not-echoed-from-previous": "req-inherit-instructions",
    "state.chain.previous-response-id-echo": "echo-previous-response-id",
    "state.chain.unknown-previous-rejected": "unknown-previous-ignored",
    "state.chain.unknown-previous-param": "error-param-null",
    "state.chain.deleted-previous-rejected": "unknown-previous-ignored",
    "state.chain.get-equals-create": "get-drops-metadata",
    "state.chain.metadata-persisted": "get-drops-metadata",
    "state.chain.delete-shape": "delete-shape",
    "state.chain.unstored-previous-rejected": "unknown-previous-ignored",
    # state.input-items
    "state.input-items.list-shape": "items-no-first-last",
    "state.input-items.all-items": "items-drop-one",
    "state.input-items.default-order-desc": "items-default-asc",
    "state.input-items.order-asc": "items-ignore-order",
    "state.input-items.limit-has-more": "items-has-more-false",
    "state.input-items.first-last-id": "items-first-last-swapped",
    "state.input-items.after-cursor": "items-ignore-after",
    "state.input-items.walk-asc": "items-ignore-after",
    "state.input-items.walk-desc": "items-has-more-false",
    "state.input-items.last-page-no-more": "items-has-more-true",
    "state.input-items.limit-zero-400": "items-clamp-limit",
    "state.input-items.limit-over-100-400": "items-clamp-limit",
    "state.input-items.unknown-response-404": "items-unknown-empty",
    "state.input-items.string-input-item": "items-string-content",
    # responses.background
    "responses.background.initial-status": "bg-sync",
    "responses.background.echo": "bg-echo-false",
    "responses.background.poll-completes": "bg-get-output-dropped",
    "responses.background.cancel-in-progress": "cancel-noop",
    "responses.background.cancel-sticks": "cancel-noop",
    "responses.background.cancel-idempotent": "cancel-noop",
    "responses.background.cancel-completed-400": "cancel-always-200",
    "responses.background.cancel-foreground-400": "cancel-always-200",
    "responses.background.cancel-unknown-404": "cancel-unknown-400",
    "responses.background.store-false-400": "bg-store-false-accepted",
    # responses.stream.*
    "responses.stream.items.added-before-deltas": "ev-added-late",
    "responses.stream.items.done-after-deltas": "ev-done-early",
    "responses.stream.items.content-part-brackets": "ev-no-part-added",
    "responses.stream.items.ids-consistent": "ev-delta-item-id",
    "responses.stream.items.done-item-equals-final": "ev-done-item-stale",
    "responses.stream.items.part-done-text": "ev-part-done-empty",
    "responses.stream.items.in-progress-after-created": "ev-no-in-progress",
    "responses.stream.items.same-response-id": "ev-terminal-other-id",
    "responses.stream.items.completed-usage": "ev-completed-no-usage",
    "responses.stream.items.text-done-order": "ev-part-done-first",
    "responses.stream.items.added-item-in-progress": "ev-added-item-completed",
    "responses.stream.tools.arguments-concatenate": "ev-args-delta-dropped",
    "responses.stream.tools.arguments-item-id": "ev-args-item-id",
    "responses.stream.tools.arguments-done-name": "ev-args-done-no-name",
    "responses.stream.tools.parallel-items": "ev-output-index-zero",
    "responses.stream.finish.length-incomplete": "ev-incomplete-as-completed",
    "responses.stream.finish.terminal-status-matches": "ev-terminal-status-completed",
    "responses.stream.finish.refusal-deltas": "ev-refusal-delta-dropped",
    "responses.stream.finish.refusal-final-part": "ev-refusal-final-as-text",
    "responses.stream.store.store-false-not-retrievable": "req-drop-store",
    "responses.stream.errors.backend-error-not-completed": "ev-failed-as-completed",
    "responses.stream.errors.malformed-fails": "ev-failed-as-completed",
    # errors.*
    "errors.backend.unavailable-502": "502-as-503",
    "errors.backend.server-error-type": "error-type-swapped",
    "errors.backend.not-stored": "failed-leaves-completed",
    "errors.backend.client-error-passed-on": "error-message-generic",
    "errors.backend.malformed-502": "502-as-503",
    "errors.backend.dropped-5xx": "502-as-400",
    "errors.params.temperature-type": "temperature-coerced",
    "errors.params.temperature-range": "temperature-coerced",
    "errors.params.input-type": "input-coerced",
    "errors.params.tools-type": "tools-coerced",
    "errors.params.metadata-value-type": "metadata-coerced",
    "errors.params.metadata-too-many-keys": "metadata-coerced",
    "errors.params.max-output-tokens-negative": "max-output-tokens-coerced",
    "errors.params.unknown-parameter": "unknown-params-stripped",
    "errors.params.unknown-parameter-named": "error-param-null",
    "errors.params.conversation-with-previous": "exclusive-params-dropped",
    "errors.params.error-content-type-json": "error-ctype-text",
    "errors.params.invalid-request-type": "error-type-swapped",
    "errors.params.input-item-type": "input-invalid-items-replaced",
    "errors.params.input-role": "input-invalid-items-replaced",
    "errors.params.function-tool-name-missing": "tools-name-defaulted",
    "errors.params.json-schema-name-missing": "json-schema-name-defaulted",
    "errors.routes.unknown-route-404": "unknown-route-200",
    "errors.routes.wrong-method-405": "405-as-404",
}

# Cases the reference fails today (reference bugs, see the report): case id -> (the mutation that
# fixes the bug in front of the reference, the mutation that breaks the fixed behaviour again).
REFERENCE_BUGS: dict[str, tuple[str, str]] = {
    "errors.params.tool-choice-undeclared-function": (
        "fix-tool-choice-validation",
        "tool-choice-invalid-dropped",
    ),
    "errors.params.tool-choice-required-without-tools": (
        "fix-tool-choice-validation",
        "tool-choice-invalid-dropped",
    ),
}


def _config(mp: ProxiedReference, profile: str = "openai") -> RunConfig:  # noqa: F811
    return RunConfig(base_url=mp.base_url, profile=PROFILES[profile], model="scripted", timeout=30)


def test_every_new_case_has_a_break() -> None:
    own = {c.id for c in REGISTRY.all() if c.func.__module__ in MODULES}
    assert own == set(BREAKS) | set(REFERENCE_BUGS), "add each new case of these modules to BREAKS"
    assert not set(BREAKS) & set(REFERENCE_BUGS)
    assert len(own) >= 90


def test_every_mutation_is_used() -> None:
    used = set(BREAKS.values()) | {m for pair in REFERENCE_BUGS.values() for m in pair}
    assert used == set(MUTATIONS)


@pytest.mark.parametrize("case_id", sorted(BREAKS))
async def test_case_passes_on_reference_and_is_caught_when_broken(mp: ProxiedReference, case_id: str) -> None:  # noqa: F811
    case = REGISTRY.get(case_id)
    good = (await run_cases([case], _config(mp))).results[0]
    assert good.verdict is Verdict.PASS, (good.message, good.expected, good.actual, good.traceback)

    mp.proxy.active = {BREAKS[case_id]}
    bad = (await run_cases([case], _config(mp))).results[0]
    expected = Verdict.FAIL if case.level is Level.MUST else Verdict.NON_STRICT
    assert bad.verdict is expected, (bad.message, bad.expected, bad.actual, bad.traceback)
    assert bad.message
    assert bad.transcript, "a caught fault comes with the transcript that shows it"


@pytest.mark.parametrize("case_id", sorted(REFERENCE_BUGS))
async def test_reference_bug_cases(mp: ProxiedReference, case_id: str) -> None:  # noqa: F811
    """The reference fails these today; a proxy that fixes the bug makes the case PASS, and a
    gateway that ignores the bad parameter is caught."""
    case = REGISTRY.get(case_id)
    fix, broken = REFERENCE_BUGS[case_id]
    expected_bad = Verdict.FAIL if case.level is Level.MUST else Verdict.NON_STRICT
    plain = (await run_cases([case], _config(mp))).results[0]
    assert plain.verdict in (Verdict.PASS, expected_bad), (plain.message, plain.traceback)

    mp.proxy.active = {fix}
    fixed = (await run_cases([case], _config(mp))).results[0]
    assert fixed.verdict is Verdict.PASS, (fixed.message, fixed.expected, fixed.actual, fixed.traceback)

    mp.proxy.active = {broken}
    bad = (await run_cases([case], _config(mp))).results[0]
    assert bad.verdict is expected_bad, (bad.message, bad.traceback)
