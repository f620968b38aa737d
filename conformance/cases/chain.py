"""Conversation state: ``previous_response_id`` chains, persisted fields, and DELETE."""

from __future__ import annotations

from conformance.cases._support import OAI, TOOLS, backend_messages, one_function_call, roles_and_texts
from conformance.cases.errors import check_error_object
from conformance.context import CaseContext
from conformance.model import Level, Tier, case

PREV = (
    "previous_response_id: The unique ID of the previous response to the model. Use this to create "
    "multi-turn conversations."
)
CREATE = f"{OAI} components.schemas.CreateResponse"
INSTR = (
    "instructions: When using along with `previous_response_id`, the instructions from a previous "
    "response will not be carried over to the next response."
)
SRC = f"{OAI} paths./responses/{{response_id}}"


@case(
    "state.chain.history-reaches-model",
    level=Level.MUST,
    title="previous_response_id puts the earlier turn before the new input",
    spec=PREV,
    tier=Tier.SCRIPTED,
    source=CREATE,
)
async def history_reaches_model(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    first = await ctx.create_ok("My name is Ada. [[text:Hello Ada.]]")
    msgs = await backend_messages(ctx, "[[messages]]", previous_response_id=first.get("id"))
    ctx.check_eq(
        roles_and_texts(msgs),
        [
            ("user", "My name is Ada. [[text:Hello Ada.]]"),
            ("assistant", "Hello Ada."),
            ("user", "[[messages]]"),
        ],
        "messages the backend received for the second turn",
    )


@case(
    "state.chain.three-turns",
    level=Level.MUST,
    title="A chain of three responses carries both earlier turns",
    spec=PREV,
    tier=Tier.SCRIPTED,
    source=CREATE,
)
async def three_turns(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    a = await ctx.create_ok("one [[text:A1]]")
    b = await ctx.create_ok("two [[text:B2]]", previous_response_id=a.get("id"))
    msgs = await backend_messages(ctx, "[[messages]]", previous_response_id=b.get("id"))
    ctx.check_eq(
        [m.get("content") for m in msgs],
        ["one [[text:A1]]", "A1", "two [[text:B2]]", "B2", "[[messages]]"],
        "message texts the backend received for the third turn",
    )


@case(
    "state.chain.function-calls-carried",
    level=Level.MUST,
    title="A chain carries function calls and their outputs",
    spec=PREV,
    tier=Tier.SCRIPTED,
    source=CREATE,
)
async def function_calls_carried(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    first, call = await one_function_call(ctx)
    second = await ctx.create_ok(
        [{"type": "function_call_output", "call_id": call.get("call_id"), "output": "sunny"}],
        previous_response_id=first.get("id"),
        tools=TOOLS,
    )
    msgs = await backend_messages(ctx, "[[messages]]", previous_response_id=second.get("id"), tools=TOOLS)
    shape = [
        (m.get("role"), [tc.get("name") for tc in m.get("tool_calls") or []] or None, m.get("tool_call_id"))
        for m in msgs
    ]
    ctx.check_eq(
        shape,
        [
            ("user", None, None),
            ("assistant", ["get_weather"], None),
            ("tool", None, call.get("call_id")),
            ("assistant", None, None),
            ("user", None, None),
        ],
        "(role, tool call names, tool_call_id) of the messages the backend received",
    )


@case(
    "state.chain.instructions-not-inherited",
    level=Level.MUST,
    title="instructions of the previous response are not carried over",
    spec=INSTR,
    tier=Tier.SCRIPTED,
    source=CREATE,
)
async def instructions_not_inherited(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    first = await ctx.create_ok("hi [[text:hello]]", instructions="OLD-INSTRUCTIONS")
    msgs = await backend_messages(ctx, "[[messages]]", previous_response_id=first.get("id"))
    leaked = [m for m in msgs if "OLD-INSTRUCTIONS" in str(m.get("content"))]
    ctx.check(not leaked, "the old instructions are not sent again", expected=[], actual=leaked)


@case(
    "state.chain.new-instructions-apply",
    level=Level.MUST,
    title="New instructions on a follow-up replace the previous ones",
    spec=INSTR + " This makes it simple to swap out system (or developer) messages in new responses.",
    tier=Tier.SCRIPTED,
    source=CREATE,
)
async def new_instructions_apply(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    first = await ctx.create_ok("hi [[text:hello]]", instructions="OLD-INSTRUCTIONS")
    msgs = await backend_messages(
        ctx, "[[messages]]", previous_response_id=first.get("id"), instructions="NEW-INSTRUCTIONS"
    )
    instr = [m.get("content") for m in msgs if m.get("role") in ("system", "developer")]
    ctx.check_eq(instr, ["NEW-INSTRUCTIONS"], "instruction messages the backend received")


@case(
    "state.chain.instructions-not-echoed-from-previous",
    level=Level.SHOULD,
    title="A follow-up without instructions reports instructions null",
    spec=INSTR,
    source=CREATE,
)
async def instructions_not_echoed_from_previous(ctx: CaseContext) -> None:
    first = await ctx.create_ok(instructions="OLD-INSTRUCTIONS")
    second = await ctx.create_ok(previous_response_id=first.get("id"))
    ctx.check_eq(second.get("instructions"), None, "instructions of the follow-up response")


@case(
    "state.chain.previous-response-id-echo",
    level=Level.SHOULD,
    title="The follow-up response reports its previous_response_id",
    spec=PREV,
    source=f"{OAI} components.schemas.Response",
)
async def previous_response_id_echo(ctx: CaseContext) -> None:
    first = await ctx.create_ok()
    second = await ctx.create_ok(previous_response_id=first.get("id"))
    ctx.check_eq(second.get("previous_response_id"), first.get("id"), "previous_response_id")


@case(
    "state.chain.unknown-previous-rejected",
    level=Level.MUST,
    title="An unknown previous_response_id is rejected with 400 or 404 and an error object",
    spec=PREV + " (the id must name a stored response)",
    source=CREATE,
)
async def unknown_previous_rejected(ctx: CaseContext) -> None:
    resp = await ctx.create(previous_response_id="resp_conformance_does_not_exist_0000")
    ctx.check(resp.status_code in (400, 404), "status", expected=[400, 404], actual=resp.status_code)
    check_error_object(ctx, resp)


@case(
    "state.chain.unknown-previous-param",
    level=Level.SHOULD,
    title='The error for an unknown previous_response_id names param "previous_response_id"',
    spec="Error.param: the parameter the error relates to.",
    source=CREATE,
)
async def unknown_previous_param(ctx: CaseContext) -> None:
    resp = await ctx.create(previous_response_id="resp_conformance_does_not_exist_0000")
    ctx.check(resp.status_code in (400, 404), "status", expected=[400, 404], actual=resp.status_code)
    err = check_error_object(ctx, resp)
    ctx.check_eq(err.get("param"), "previous_response_id", "error.param")


@case(
    "state.chain.deleted-previous-rejected",
    level=Level.MUST,
    title="A deleted response cannot be continued",
    spec="DELETE /responses/{response_id}: Deletes a model response with the given ID.",
    source=SRC,
)
async def deleted_previous_rejected(ctx: CaseContext) -> None:
    first = await ctx.create_ok()
    deleted = await ctx.delete(f"/responses/{first.get('id')}")
    ctx.check_eq(deleted.status_code, 200, "status of DELETE")
    resp = await ctx.create(previous_response_id=first.get("id"))
    ctx.check(resp.status_code in (400, 404), "status", expected=[400, 404], actual=resp.status_code)


@case(
    "state.chain.get-equals-create",
    level=Level.SHOULD,
    title="GET returns the same object the create call returned",
    spec="GET /responses/{response_id}: Retrieves a model response with the given ID.",
    source=SRC,
)
async def get_equals_create(ctx: CaseContext) -> None:
    created = await ctx.create_ok(metadata={"k": "v"}, instructions="Be brief.", temperature=0.5)
    got = ctx.json_ok(await ctx.get(f"/responses/{created.get('id')}"), "GET /responses/{id}")
    diff = sorted(k for k in set(got) | set(created) if got.get(k, "<absent>") != created.get(k, "<absent>"))
    ctx.check(not diff, "fields that differ between create and GET", expected=[], actual=diff)


@case(
    "state.chain.metadata-persisted",
    level=Level.MUST,
    title="metadata is returned by a later GET",
    spec="Metadata: Set of 16 key-value pairs that can be attached to an object. This can be useful for "
    "storing additional information about the object in a structured format, and querying for objects "
    "via API or the dashboard.",
    source=f"{OAI} components.schemas.Metadata",
)
async def metadata_persisted(ctx: CaseContext) -> None:
    meta = {"ticket": "T-42", "owner": "conformance"}
    created = await ctx.create_ok(metadata=meta)
    got = ctx.json_ok(await ctx.get(f"/responses/{created.get('id')}"), "GET /responses/{id}")
    ctx.check_eq(got.get("metadata"), meta, "metadata of the stored response")


@case(
    "state.chain.delete-shape",
    level=Level.MUST,
    title="DELETE answers the deleted id with deleted: true",
    spec="DELETE /responses/{response_id}: Deletes a model response with the given ID. (example answer: "
    '`{"id": "resp_6786a1bec27481909a17d673315b29f6", "object": "response", "deleted": true}`)',
    source=f"{SRC}.delete x-oaiMeta",
)
async def delete_shape(ctx: CaseContext) -> None:
    created = await ctx.create_ok()
    body = ctx.json_ok(await ctx.delete(f"/responses/{created.get('id')}"), "DELETE /responses/{id}")
    ctx.check_eq(
        {k: body.get(k) for k in ("id", "deleted")},
        {"id": created.get("id"), "deleted": True},
        "id and deleted of the DELETE answer",
    )
    # the published example says "response"; the API and its SDK type say "response.deleted"
    ctx.check(
        body.get("object") in ("response.deleted", "response"),
        "object of the DELETE answer",
        expected=["response.deleted", "response"],
        actual=body.get("object"),
    )


@case(
    "state.chain.unstored-previous-rejected",
    level=Level.MUST,
    title="A response created with store=false cannot be continued",
    spec="store: Whether to store the generated model response for later retrieval via API. " + PREV,
    source=CREATE,
)
async def unstored_previous_rejected(ctx: CaseContext) -> None:
    first = await ctx.create_ok(store=False)
    resp = await ctx.create(previous_response_id=first.get("id"))
    ctx.check(resp.status_code in (400, 404), "status", expected=[400, 404], actual=resp.status_code)
    check_error_object(ctx, resp)
