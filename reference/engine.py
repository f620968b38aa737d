"""Orchestration shared by the HTTP and ext_proc adapters.

The engine validates a create request, rebuilds the conversation for `previous_response_id`,
calls the backend, translates, stores, and runs background responses. It is split so that an
adapter which does not call the backend itself (the ext_proc server: Envoy makes that call) can
reuse the halves around the backend hop:

    prepared = await engine.prepare(body)          # validate, load history, build chat request
    # ... someone sends prepared.chat_request to the backend ...
    response = engine.complete(prepared, chat_json) # non-streaming: translate the answer
    # or: StreamTranslator(prepared.response) fed with the backend's chunks
    text = await engine.finalize(prepared, response) # persist (when store) and serialise

`create` and `stream` are those steps with this process's own backend client in the middle.

Stateful features are resolved in `prepare` too, so every adapter gets them:
- `conversation`: the conversation's items are placed before the input (like
  `previous_response_id` history), and `finalize` appends the request's input and the output to
  the conversation once the response completed (or ended incomplete).
- `prompt`: the stored template is rendered (`PromptRenderer.render`): its
  instructions come before the request's own `instructions`, its input messages before the
  request's input; the response echoes `prompt` and the combined `instructions`.
- hosted tools (`file_search`, `mcp`): validated and listed up front (`reference.tools`). Such a
  request needs several model calls, so it runs `reference.tools.ToolLoop` instead of one
  backend hop: `run_tool_loop(prepared, call_model)` / `stream_tool_loop(prepared, stream_model)`
  take the "call the model once" step as a callable (`Prepared.tool_loop` tells an adapter so).

Store calls are blocking (sqlite3); they run on the gateway's one store thread
(`reference.store.StoreThread`) so they never stall the event loop and never race each other.

The engine looks nothing up: the composition root (`reference.gateway.build_gateway`) passes the
store, its thread, the backend client and the services, each through the narrow interface the
engine uses (`ConversationLog`, `PromptRenderer`, `reference.tools.ToolServices`).

The API the adapters use. `Engine(store, backend | None, *, thread, conversations, prompts,
tools)` is built by `reference.gateway.build_gateway(store, backend)` (use `gateway.engine`);
all methods are async except `complete`.

- `prepare(body: bytes | str | dict) -> Prepared`: validates (raises `APIError`), loads the
  history for `previous_response_id`, builds `Prepared.chat_request` (the Chat Completions body,
  `stream` set from the request) and the `Prepared.response` skeleton (status `in_progress`).
  Also `Prepared.id`, `.stream`, `.store`, `.background`, `.input_items`, `.history`, `.request`.
- `create(prepared) -> str`: the response JSON text; raises `APIError` on a backend failure and
  stores nothing. `stream(prepared) -> AsyncIterator[dict]`: events; a backend failure ends it
  with `response.failed` and stores `failed`.
- For an adapter that does not call the backend itself: `complete(prepared, chat_json) -> dict`
  (sync; may raise `APIError` 502 on a non-completion), or `core.streaming.StreamTranslator(
  prepared.response)` fed with the chunks; then `await finalize(prepared, response) -> str`
  persists it (unless `store: false`) and returns the exact JSON text to send. On a backend
  error: `errors.from_backend_http(...)` and nothing is finalized (non-streaming), or
  `translator.fail(err)` then `finalize` (streaming).
- `get(id) -> dict`, `get_text(id) -> str` (the byte-identical stored text), `delete(id) -> dict`,
  `input_items(id, limit=, after=, before=, order=) -> dict`, `list(...) -> dict`,
  `cancel(id) -> str`, `wait_background(id)`, `aclose()`.

Behaviour decisions:
- An unknown `previous_response_id` is **400** `invalid_request_error`, param
  `previous_response_id`, code `previous_response_not_found` (what the OpenAI API answers:
  "Previous response with id 'resp_...' not found."), not 404.
- `background: true` with `store: false` is 400 (param `background`).
- Cancel: not background -> 400, finished -> 400, already cancelled -> 200 with the response
  (idempotent), unknown -> 404.
- DELETE returns `{"id", "object": "response.deleted", "deleted": true}`.
- `input_items` lists the request's own input items (not the inherited history, nor a prompt
  template's messages).
- The store is `reference.store.ResponseStore`, a synchronous Protocol (`SQLiteStore` is the
  default, `open_store(path_or_url)`).
- `conversation` (an id or `{id}`): its items (`ConversationLog.load_items`) are the history;
  `finalize` appends the request's input items and the output to the conversation when the
  response ends `completed` or `incomplete` (also with `store: false`; never when it failed).
- `prompt`: `PromptRenderer.render`; the template's instructions, then the request's own
  `instructions`, joined by a blank line, become the system message and the response's
  `instructions`; the template's input messages go between the history and the request's input;
  the response echoes `prompt` (`RenderedPrompt.reference`).

Hosted tools: `build_gateway(store, backend, mcp_cache=MCPToolCache())` (one tool-list cache per
engine). `prepare` resolves `file_search` / `mcp` tools (`Prepared.hosted`) and pairs
`mcp_approval_response` inputs with their requests (`Prepared.approvals`), raising 400, 404
(unknown vector store, param `tools[i].vector_store_ids`) or 424 (MCP tool list unavailable)
before anything runs; `Prepared.chat_request` then also offers the hosted tools as chat
functions. When `Prepared.tool_loop` is true, `create` / `stream` / background run
`reference.tools.ToolLoop`; an adapter that calls the model itself uses
`await engine.run_tool_loop(prepared, call_model)` (`call_model(chat_request)` -> chat
completion JSON, raising the model's `APIError`; then `finalize`) or
`engine.stream_tool_loop(prepared, stream_model)` (`stream_model(chat_request)` -> an async
iterator of chunks; yields Responses events, already finalized before the terminal one). The
response's `tools` echo mcp `headers` / `authorization` redacted (`****` + the last 4 characters
when at least 16 long).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from reference.backend import Backend
from reference.core import errors, ids, pagination, responses, translate
from reference.core.errors import APIError
from reference.core.models import CreateResponseRequest
from reference.core.serialization import copy_json, dump
from reference.core.sse import TERMINAL_EVENTS
from reference.core.streaming import StreamTranslator
from reference.mcp_client import mangle_tool_name
from reference.observability.metrics import GatewayMetrics
from reference.services.prompts import RenderedPrompt
from reference.store import ResponseStore, StoredResponse, StoreThread
from reference.store.leases import JobLeases
from reference.tools import (
    CallModel,
    HostedTools,
    PendingApproval,
    StreamModel,
    ToolLoop,
    ToolServices,
    expand_history,
    has_hosted_items,
    is_hosted_tool,
    pending_approvals,
    redact_tool_echo,
    resolve_hosted_tools,
)

log = logging.getLogger("reference.engine")

# Statuses from which a background response can still be cancelled.
_CANCELLABLE = ("queued", "in_progress")
CANCEL_POLL_SECONDS = 1.0
"""How often a running background job checks whether another replica cancelled it."""
_T = TypeVar("_T")
RESPONSE_JOB = "response/"
"""Lease name prefix of a background response's job (`reference.store.leases`)."""
# Responses whose input and output join their conversation (a failed or cancelled one did not
# happen as far as the conversation is concerned).
_APPEND_TO_CONVERSATION = ("completed", "incomplete")


class ConversationLog(Protocol):
    """What the engine needs of conversations (`reference.services.Conversations`)."""

    async def load_items(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's items, oldest first (404 `APIError`, param `conversation`)."""

    async def append_items(self, conversation_id: str,
                           items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append a finished response's input and output items (404 when it is gone)."""


class PromptRenderer(Protocol):
    """What the engine needs of prompts (`reference.services.Prompts`)."""

    async def render(self, prompt_ref: Mapping[str, Any] | Any) -> RenderedPrompt:
        """The `prompt` parameter rendered (400 for a bad variable, 404 for an unknown prompt)."""


@dataclass
class Prepared:
    """Everything a create request needs once validated; independent of who calls the backend."""

    request: CreateResponseRequest
    response: dict[str, Any]
    """The response skeleton (status `in_progress`, empty output) echoing the request."""
    chat_request: dict[str, Any]
    """The Chat Completions request for the backend (history + this request's input)."""
    input_items: list[dict[str, Any]]
    """This request's own input, normalised to items with ids (what input_items lists)."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """Input and output items of the `previous_response_id` chain (or the conversation's
    items), oldest first."""
    hosted: HostedTools | None = None
    """The request's hosted tools (file_search, mcp), resolved; None when it has none."""
    approvals: list[PendingApproval] = field(default_factory=list)
    """The request's `mcp_approval_response` items paired with the requests they answer."""

    @property
    def id(self) -> str:
        return str(self.response["id"])

    @property
    def stream(self) -> bool:
        return bool(self.request.stream)

    @property
    def store(self) -> bool:
        # OpenAI: `store` defaults to true.
        return self.request.store is not False

    @property
    def background(self) -> bool:
        return bool(self.request.background)

    @property
    def conversation_id(self) -> str | None:
        return self.request.conversation_id

    @property
    def tool_loop(self) -> bool:
        """Whether this request runs the hosted tool loop (several model calls) rather than
        one backend hop."""
        return self.hosted is not None


class _EndedElsewhere(Exception):
    """A background job stopped because another replica ended it (cancelled, deleted, or failed
    after taking over an expired lease) and stored that outcome."""


class Engine:
    def __init__(
        self,
        store: ResponseStore,
        backend: Backend | None,
        *,
        thread: StoreThread,
        conversations: ConversationLog,
        prompts: PromptRenderer,
        tools: ToolServices,
        leases: JobLeases,
        clock: Callable[[], float] = time.time,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.store = store
        # Token counts of finished responses (None: not counted).
        self._metrics = metrics
        self.backend = backend
        self._run = thread.run
        self._conversations = conversations
        self._prompts = prompts
        self._tools = tools
        self._leases = leases
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # --- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop background jobs (recorded as failed: nobody cancelled them). The backend client,
        the store and its thread belong to the composition root, which closes them after."""
        for response_id, task in list(self._tasks.items()):
            task.cancel()
            # asyncio.wait does not re-raise the job's exception, and a cancellation of
            # aclose itself still propagates.
            await asyncio.wait([task])
            await self._finish_unfinished(response_id, APIError(
                500, "The gateway shut down before this response finished.", errors.SERVER_ERROR))
            await self._leases.release(RESPONSE_JOB + response_id)

    async def recover(self) -> list[str]:
        """Mark background responses left queued/in_progress by a stopped process as failed.

        Their jobs died with that process; without this they would read `in_progress` forever.
        Call once at startup, before serving. Only unleased jobs and expired leases are taken:
        another live replica's running jobs are left alone (`reference.store.leases`). Returns
        the ids it marked.
        """
        marked: list[str] = []
        for response_id in await self._run(self.store.ids_with_status, *_CANCELLABLE):
            if await self._take_over(response_id, "The gateway restarted before this response finished."):
                marked.append(response_id)
        return marked

    async def sweep_expired(self) -> list[str]:
        """Mark failed the background responses whose lease expired: the replica running them
        stopped renewing it (killed, or cut off from the database). Run by the lease heartbeat;
        returns the ids it marked."""
        marked: list[str] = []
        for job in await self._leases.expired(RESPONSE_JOB):
            response_id = job.removeprefix(RESPONSE_JOB)
            if await self._take_over(response_id, "The gateway replica running this response "
                                                  "stopped before it finished."):
                log.warning("background response %s: its replica stopped; marked failed", response_id)
                marked.append(response_id)
        return marked

    async def _take_over(self, response_id: str, message: str) -> bool:
        """Claim an unleased or expired job and end it `failed` if it is unfinished; True when
        it was marked. False when a live process holds it, or it had finished."""
        if response_id in self._tasks:
            return False  # ours, running: the next heartbeat renews its lease
        job = RESPONSE_JOB + response_id
        if not await self._leases.claim(job):
            return False
        try:
            if await self._stored_status(response_id) not in _CANCELLABLE:
                return False
            await self._finish_unfinished(response_id, APIError(500, message, errors.SERVER_ERROR))
            return True
        finally:
            await self._leases.release(job)

    def _backend(self) -> Backend:
        if self.backend is None:
            raise APIError(500, "This gateway has no model backend configured.", errors.SERVER_ERROR)
        return self.backend

    # --- create --------------------------------------------------------------------------------

    async def prepare(
        self, body: bytes | str | dict[str, Any], *, history: list[dict[str, Any]] | None = None
    ) -> Prepared:
        """Validate a create request and build everything it needs.

        `history`, when given, is the `previous_response_id` chain already known to the caller
        (a WebSocket connection's local state, which holds `store: false` responses too); it
        replaces the lookup in the store.
        """
        req = CreateResponseRequest.parse(body)
        del body  # the parsed request holds everything; the raw bytes would double the memory
        if req.background and req.store is False:
            # OpenAI: background mode needs the response stored, since the client fetches the
            # result later with GET.
            raise errors.invalid_request(
                "Background mode requires store=true: a background response can only be fetched "
                "later if it is stored.", "background")
        if history is not None and req.previous_response_id is not None:
            history = list(history)
        elif req.previous_response_id is not None:
            history = await self._run(self._load_history, req.previous_response_id)
        else:
            history = []
        if req.conversation_id is not None:
            # (`conversation` with `previous_response_id` is a 400 in the core.) "Conversation
            # items are prepended to input_items for this response request."
            history = await self._conversations.load_items(req.conversation_id)
        instructions = req.instructions
        prompt_items: list[dict[str, Any]] = []
        prompt_echo: dict[str, Any] | None = None
        if req.prompt is not None:
            rendered = await self._prompts.render(req.prompt)
            # The template's instructions first, then the request's own (both reach the model).
            parts = [text for text in (rendered.instructions, req.instructions) if text]
            instructions = "\n\n".join(parts) if parts else None
            prompt_items = list(rendered.input)
            prompt_echo = rendered.reference
        effective = req if instructions == req.instructions else req.model_copy(
            update={"instructions": instructions})
        own_items = translate.input_items(req)
        tool_dicts = [tool.model_dump(mode="json", exclude_none=True) for tool in req.tools or []]
        hosted: HostedTools | None = None
        approvals: list[PendingApproval] = []
        wants_approval = any(item.get("type") == "mcp_approval_response" for item in own_items)
        if wants_approval or any(is_hosted_tool(tool) for tool in tool_dicts):
            hosted = await resolve_hosted_tools(
                tool_dicts, self._tools, history,
                client_function_names=[tool.name for tool in req.function_tools()])
            approvals = pending_approvals(own_items, history, hosted)
        context = expand_history([*history, *prompt_items])
        chat_request = translate.to_chat_request(effective, context, stream=bool(req.stream),
                                                 own_items=own_items)
        if has_hosted_items(own_items):
            # The request's own input replays hosted items: render those for the model too.
            head = chat_request["messages"][:1] if effective.instructions else []
            chat_request["messages"] = head + translate.items_to_messages(
                expand_history([*history, *prompt_items, *own_items]))
        if hosted is not None:
            _offer_hosted_tools(chat_request, req, hosted)
        response_id = ids.new_id(ids.RESPONSE)
        skeleton = responses.new_response(
            req, response_id=response_id, created_at=int(self._clock()), status="in_progress"
        )
        if hosted is not None:
            skeleton["tools"] = [redact_tool_echo(tool) for tool in skeleton["tools"]]
        if prompt_echo is not None:
            skeleton["instructions"] = instructions
            skeleton["prompt"] = prompt_echo
        return Prepared(
            request=req,
            response=skeleton,
            chat_request=chat_request,
            input_items=own_items,
            history=history,
            hosted=hosted,
            approvals=approvals,
        )

    # --- hosted tools --------------------------------------------------------------------------

    def new_tool_loop(self, prepared: Prepared) -> ToolLoop:
        if prepared.hosted is None:
            raise ValueError("this request has no hosted tools")
        return ToolLoop(prepared.hosted, self._tools, prepared.response, prepared.chat_request,
                        include=prepared.request.include, max_tool_calls=prepared.request.max_tool_calls,
                        approvals=prepared.approvals, clock=self._clock)

    async def run_tool_loop(self, prepared: Prepared, call_model: CallModel) -> dict[str, Any]:
        """The finished response of a hosted-tool request, calling the model with `call_model`
        (chat request -> chat completion JSON) as often as the loop needs. Raises the model's
        `APIError`. Persist the result with `finalize`."""
        return await self.new_tool_loop(prepared).run(call_model)

    async def stream_tool_loop(self, prepared: Prepared, stream_model: StreamModel
                               ) -> AsyncIterator[dict[str, Any]]:
        """The events of a hosted-tool request (streaming `stream_model` calls), finalized
        (stored, appended to its conversation) before the terminal event is yielded."""
        loop = self.new_tool_loop(prepared)
        events = loop.stream(stream_model)
        try:
            async for event in events:
                if event["type"] in TERMINAL_EVENTS:
                    await self.finalize(prepared, loop.response)
                yield event
        except Exception as exc:
            if isinstance(exc, APIError):
                raise  # ToolLoop.stream turns model failures into response.failed itself
            log.exception("streaming response %s failed", prepared.id)
            final = loop.fail(APIError(500, f"The gateway failed: {type(exc).__name__}", errors.SERVER_ERROR))
            await self.finalize(prepared, loop.response)
            for event in final:
                yield event

    def _load_history(self, previous_response_id: str) -> list[dict[str, Any]]:
        """Input items + output items of every response in the chain, oldest first.

        Runs on the store thread. Instructions are deliberately not part of the history: the
        OpenAI docs say that with `previous_response_id` "the instructions from a previous
        response will not be carried over to the next response".
        """
        chain: list[StoredResponse] = []
        seen: set[str] = set()
        next_id: str | None = previous_response_id
        while next_id is not None and next_id not in seen:
            seen.add(next_id)
            stored = self.store.get_response(next_id)
            if stored is None:
                # OpenAI answers an unknown previous_response_id with 400
                # `previous_response_not_found` naming the param (observed API behaviour,
                # e.g. {"status":400,"error":{"code":"previous_response_not_found","message":
                # "Previous response with id 'resp_...' not found."}}), not 404: the request
                # URL exists, one of its parameters is wrong.
                raise errors.invalid_request(
                    f"Previous response with id '{next_id}' not found.",
                    "previous_response_id", "previous_response_not_found")
            chain.append(stored)
            next_id = stored.previous_response_id
        items: list[dict[str, Any]] = []
        for stored in reversed(chain):
            items.extend(json.loads(text) for text in stored.input_items)
            body = json.loads(stored.body)
            items.extend(body.get("output") or [])
        return items

    def complete(self, prepared: Prepared, chat_json: dict[str, Any]) -> dict[str, Any]:
        """Translate a backend chat completion into the finished response object."""
        return translate.apply_chat_completion(copy_json(prepared.response), chat_json)

    async def finalize(self, prepared: Prepared, response: dict[str, Any]) -> str:
        """Persist `response` (unless `store: false`) and return its JSON text.

        The returned text is what the client must be sent: it is byte-identical to what a later
        GET returns.
        """
        text = dump(response)
        if self._metrics is not None:
            self._metrics.usage(response.get("usage"))
        if prepared.store:
            await self._save(prepared, response, text, with_items=True)
        await self._append_to_conversation(prepared, response)
        return text

    async def _append_to_conversation(self, prepared: Prepared, response: dict[str, Any]) -> None:
        """OpenAI `conversation`: "Input items and output items from this response are
        automatically added to this conversation after this response completes." """
        conversation_id = prepared.conversation_id
        if conversation_id is None or response.get("status") not in _APPEND_TO_CONVERSATION:
            return
        await self._conversations.append_items(
            conversation_id, [*prepared.input_items, *(response.get("output") or [])])

    async def _save(
        self, prepared: Prepared, response: dict[str, Any], text: str, *, with_items: bool
    ) -> None:
        items = None
        if with_items:
            # Serialised one at a time as the store writes them, so the JSON text of a large
            # input never exists twice (as objects and as one list of texts).
            items = ((str(item.get("id", "")), dump(item)) for item in prepared.input_items)
        await self._run(
            self.store.save_response,
            prepared.id,
            text,
            created_at=int(response.get("created_at") or 0),
            status=str(response.get("status")),
            previous_response_id=prepared.request.previous_response_id,
            input_items=items,
        )

    async def create(self, prepared: Prepared) -> str:
        """Run a non-streaming request; return the response JSON text.

        A backend failure raises its `APIError` (the client gets that status and body) and
        nothing is stored: a failure must never read as a completed response.
        """
        if prepared.background:
            return await self._start_background(prepared)
        return await self.finalize(prepared, await self._respond(prepared))

    async def _respond(self, prepared: Prepared) -> dict[str, Any]:
        """The finished (not yet stored) response of a non-streaming request."""
        if prepared.tool_loop:
            return await self.run_tool_loop(prepared, self._backend().chat)
        chat_json = await self._backend().chat(prepared.chat_request)
        return self.complete(prepared, chat_json)

    async def stream(self, prepared: Prepared) -> AsyncGenerator[dict[str, Any], None]:
        """Run a streaming request, yielding Responses events.

        A backend failure after the stream started ends it with `response.failed` carrying the
        error (and the stored response, when `store`, has status `failed`).

        A background stream runs as its own task feeding a queue: the client watching it may
        disconnect and the response still completes (and is stored), and `cancel` can stop it.
        """
        if not prepared.background:
            async for event in self._stream_events(prepared):
                yield event
            return
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def pump() -> None:
            async for event in self._stream_events(prepared):
                queue.put_nowait(event)

        async def produce() -> None:
            try:
                await self._watched(prepared.id, asyncio.ensure_future(pump()))
            except _EndedElsewhere:
                pass  # that replica stored the outcome
            finally:
                queue.put_nowait(None)
                await self._release_unless_cancelled(prepared.id)

        self._track(prepared.id, asyncio.create_task(produce(), name=f"background stream {prepared.id}"))
        while (queued := await queue.get()) is not None:
            yield queued

    async def _stream_events(self, prepared: Prepared) -> AsyncIterator[dict[str, Any]]:
        translator = StreamTranslator(copy_json(prepared.response))
        if prepared.background:
            # Leased before it is stored: no replica may take a job nobody holds.
            await self._leases.claim(RESPONSE_JOB + prepared.id)
            # Stored from the start so GET shows it in progress (background implies store).
            await self._save(prepared, translator.response, dump(translator.response), with_items=True)
        if prepared.tool_loop:
            # The backend is looked up per call, inside the loop: a missing backend then ends
            # the stream with response.failed like any other backend failure.
            async for event in self.stream_tool_loop(
                    prepared, lambda request: self._backend().stream_chat(request)):
                yield event
            return
        for event in translator.start():
            yield event
        try:
            async for chunk in self._backend().stream_chat(prepared.chat_request):
                for event in translator.feed(chunk):
                    yield event
            final = translator.finish()
        except APIError as err:
            final = translator.fail(err)
        except Exception as exc:
            log.exception("streaming response %s failed", prepared.id)
            final = translator.fail(APIError(500, f"The gateway failed: {type(exc).__name__}",
                                             errors.SERVER_ERROR))
        if prepared.background and await self._stored_status(prepared.id) not in _CANCELLABLE:
            return  # cancelled (or failed) on another replica as it finished: that stands
        # Store before the terminal event goes out: a client that GETs the response as soon as
        # it sees response.completed must find it.
        await self.finalize(prepared, translator.response)
        for event in final:
            yield event

    # --- background ----------------------------------------------------------------------------

    async def _start_background(self, prepared: Prepared) -> str:
        queued = copy_json(prepared.response)
        queued["status"] = "queued"
        text = dump(queued)
        # Leased before it is stored: no replica may take a job nobody holds.
        await self._leases.claim(RESPONSE_JOB + prepared.id)
        try:
            await self._save(prepared, queued, text, with_items=True)
        except BaseException:
            await self._leases.release(RESPONSE_JOB + prepared.id)  # no job: no lease to renew
            raise
        self._track(prepared.id, asyncio.create_task(self._run_background(prepared),
                                                     name=f"background {prepared.id}"))
        return text

    def _track(self, response_id: str, task: asyncio.Task[None]) -> None:
        # Held here so the task is not garbage-collected mid-run and `cancel` can find it.
        self._tasks[response_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(response_id, None))

    async def _release_unless_cancelled(self, response_id: str) -> None:
        """A job's lease ends with it; when this process cancelled the job (`cancel`, `delete`,
        shutdown), the canceller records the outcome first and releases after."""
        task = asyncio.current_task()
        if task is None or not task.cancelling():
            await self._leases.release(RESPONSE_JOB + response_id)

    async def _run_background(self, prepared: Prepared) -> None:
        try:
            await self._run_background_job(prepared)
        finally:
            await self._release_unless_cancelled(prepared.id)

    async def _run_background_job(self, prepared: Prepared) -> None:
        running = copy_json(prepared.response)
        running["status"] = "in_progress"
        await self._save(prepared, running, dump(running), with_items=False)
        try:
            response = await self._watched(prepared.id, asyncio.ensure_future(self._respond(prepared)))
        except APIError as err:
            response = failed_response(running, err)
        except _EndedElsewhere:
            return  # that replica stored the outcome
        except Exception as exc:
            log.exception("background response %s failed", prepared.id)
            response = failed_response(running, APIError(500, f"The gateway failed: {type(exc).__name__}",
                                                         errors.SERVER_ERROR))
        if await self._stored_status(prepared.id) not in _CANCELLABLE:
            # Cancelled, deleted, or failed by a replica that took over an expired lease, as it
            # finished: that stands.
            return
        await self._save(prepared, response, dump(response), with_items=False)
        await self._append_to_conversation(prepared, response)

    async def _stored_status(self, response_id: str) -> str | None:
        stored = await self._run(self.store.get_response, response_id)
        return None if stored is None else json.loads(stored.body).get("status")

    async def _watched(self, response_id: str, work: asyncio.Future[_T]) -> _T:
        """Await a background job's work while `_stop_when_cancelled_elsewhere` watches the store.

        Raises `_EndedElsewhere` when the watcher stopped it. A cancel of the calling task
        (`cancel` or shutdown on this process, which record the state themselves) propagates."""
        watcher = asyncio.create_task(self._stop_when_cancelled_elsewhere(response_id, work))
        try:
            return await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            raise _EndedElsewhere(response_id) from None
        finally:
            watcher.cancel()

    async def _stop_when_cancelled_elsewhere(self, response_id: str, work: asyncio.Future[Any]) -> None:
        """Replicas share the store, and a cancel may reach another replica than the one running
        the job: that replica only records `cancelled` (or, having taken over an expired lease,
        `failed`). This one notices within `CANCEL_POLL_SECONDS` and stops the job (its result
        is never saved over that)."""
        seen = False
        while not work.done():
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            try:
                status = await self._stored_status(response_id)
            except APIError:
                continue  # the store is unreachable for now: ask again next time
            if status is None and not seen:
                continue  # a background stream stores itself once it starts
            seen = True
            if status not in _CANCELLABLE:
                work.cancel()
                return

    async def wait_background(self, response_id: str) -> None:
        """Wait for a background job to end (tests and graceful shutdown)."""
        task = self._tasks.get(response_id)
        if task is not None:
            await asyncio.wait([task])

    async def cancel(self, response_id: str) -> str:
        """Cancel a background response; return its JSON text.

        OpenAI: "Only responses created with the `background` parameter set to `true` can be
        cancelled" (others -> 400); cancelling a finished response is a 400, cancelling an
        already cancelled one returns it unchanged (idempotent, as the background guide says).
        """
        stored = await self._run(self.store.get_response, response_id)
        if stored is None:
            raise errors.not_found("response", response_id)
        body = json.loads(stored.body)
        if not body.get("background"):
            raise errors.invalid_request(
                "Only responses created with background=true can be cancelled.", None, "not_cancellable")
        status = body.get("status")
        if status == "cancelled":
            return stored.body
        if status not in _CANCELLABLE:
            raise errors.invalid_request(f"Cannot cancel a response with status '{status}'.", None,
                                         "not_cancellable")
        task = self._tasks.get(response_id)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        text = await self._finish_unfinished(response_id)
        # Ours when the job ran here (a no-op otherwise: its owner releases it when it stops).
        await self._leases.release(RESPONSE_JOB + response_id)
        return text or stored.body

    async def _finish_unfinished(self, response_id: str, error: APIError | None = None) -> str | None:
        """End a still queued/in_progress stored response: `failed` with `error`, else `cancelled`.
        Returns the stored text."""
        stored = await self._run(self.store.get_response, response_id)
        if stored is None:
            return None
        body = json.loads(stored.body)
        if body.get("status") not in _CANCELLABLE:
            # The job finished before the cancellation reached it: its result stands.
            return stored.body
        body = failed_response(body, error) if error is not None else {**body, "status": "cancelled"}
        text = dump(body)
        await self._run(self.store.save_response, response_id, text,
                        created_at=int(body.get("created_at") or 0), status=str(body["status"]),
                        previous_response_id=stored.previous_response_id)
        return text

    # --- reads ---------------------------------------------------------------------------------

    async def get_text(self, response_id: str) -> str:
        """The stored response's JSON text, byte-identical to what was stored."""
        stored = await self._run(self.store.get_response, response_id)
        if stored is None:
            raise errors.not_found("response", response_id)
        return stored.body

    async def get(self, response_id: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(await self.get_text(response_id))
        return result

    async def delete(self, response_id: str) -> dict[str, Any]:
        task = self._tasks.get(response_id)
        if task is not None:
            task.cancel()
        deleted = await self._run(self.store.delete_response, response_id)
        await self._leases.release(RESPONSE_JOB + response_id)
        if not deleted:
            raise errors.not_found("response", response_id)
        return {"id": response_id, "object": "response.deleted", "deleted": True}

    async def input_items(
        self,
        response_id: str,
        *,
        limit: int | str | None = None,
        after: str | None = None,
        before: str | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        """The response's own input items as a list page (OpenAI default order: desc)."""
        texts = await self._run(self.store.get_input_items, response_id)
        if texts is None:
            raise errors.not_found("response", response_id)
        items = [json.loads(t) for t in texts]
        return pagination.paginate(items, limit=limit, after=after, before=before, order=order)

    async def list(
        self,
        *,
        limit: int | str | None = None,
        after: str | None = None,
        before: str | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        """Stored responses as a list page (default newest first, like OpenAI's list endpoints)."""
        texts = await self._run(self.store.list_responses)
        return pagination.paginate([json.loads(t) for t in texts], limit=limit, after=after,
                                   before=before, order=order)


def failed_response(response: dict[str, Any], err: APIError) -> dict[str, Any]:
    """`response` marked failed with `err` in the Response object's `error` shape."""
    failed = copy_json(response)
    failed["status"] = "failed"
    # Same shape as the streaming `response.failed` (core.streaming.StreamTranslator.fail).
    failed["error"] = errors.response_error(err)
    return failed


def _offer_hosted_tools(chat_request: dict[str, Any], req: CreateResponseRequest,
                        hosted: HostedTools) -> None:
    """Add the chat functions standing for the hosted tools to `chat_request`.

    A hosted `tool_choice` forces its function: `{"type": "file_search"}` the (first) file_search
    function, `{"type": "mcp", "server_label", "name"?}` that tool (or, without a name, any
    tool: "required"). The loop relaxes a forced choice after the first model call.
    """
    tools = hosted.chat_tools()
    if not tools:
        return
    chat_request["tools"] = [*(chat_request.get("tools") or []), *tools]
    choice = req.tool_choice
    forced: Any = None
    if isinstance(choice, str):
        forced = choice
    elif choice is not None and getattr(choice, "type", None) == "file_search" and hosted.file_searches:
        forced = {"type": "function", "function": {"name": hosted.file_searches[0].function_name}}
    elif choice is not None and getattr(choice, "type", None) == "mcp":
        extra = choice.model_extra or {}
        label, name = extra.get("server_label"), extra.get("name")
        if isinstance(label, str) and isinstance(name, str):
            forced = {"type": "function", "function": {"name": mangle_tool_name(label, name)}}
        elif isinstance(label, str):
            forced = "required"
    if forced is not None:
        chat_request["tool_choice"] = forced
    if req.parallel_tool_calls is not None:
        chat_request["parallel_tool_calls"] = req.parallel_tool_calls
