"""The server-side tool loop for hosted tools (`file_search`, `mcp`).

One Responses request with hosted tools may need several model calls: the model calls a hosted
tool (offered to it as a chat function, see `reference.tools.hosted`), the gateway runs it,
feeds the result back, and calls the model again until it answers without hosted calls.

:class:`ToolLoop` holds the state of one response (the output so far, the chat messages so far,
the budget) and is driven with an injected "call the model once" callable, so the same loop
serves the HTTP engine (which calls its own backend client) and the ext_proc server (which
can call the backend through an Envoy cluster and answer with an immediate response):

    loop = ToolLoop(hosted, services, prepared.response, prepared.chat_request, ...)
    response = await loop.run(call_model)          # call_model(chat_request) -> chat completion JSON
    async for event in loop.stream(stream_model):  # stream_model(chat_request) -> chat chunks
        ...

Both drivers run one generator of Responses stream events (`_events`); `run` discards the
events and returns the finished response, `stream` yields them. Events and output follow the
OpenAI streaming reference:

- `mcp_list_tools` items first: `response.output_item.added`, `response.mcp_list_tools.in_progress`,
  `response.mcp_list_tools.completed`, `response.output_item.done`.
- approved `mcp_approval_response`s of the request run before the first model call, as
  `mcp_call` items carrying `approval_request_id`.
- the model's text streams as usual (the core `StreamTranslator`, its events renumbered and
  their `output_index` shifted); a call to a hosted function becomes, in place of the
  function_call item:
  * file_search: a `file_search_call` item: `output_item.added` (status `in_progress`),
    `response.file_search_call.in_progress`, then once the search runs `.searching`,
    `.completed`, `output_item.done` (status `completed`, `queries`, `results` only with
    `include: ["file_search_call.results"]`, else null as the spec's FileSearchToolCall allows);
  * mcp, no approval needed: an `mcp_call` item: `output_item.added`, `response.mcp_call.in_progress`,
    `response.mcp_call_arguments.delta`... `.done` while the model writes the arguments, then
    `response.mcp_call.completed` or `.failed` and `output_item.done` once the server answered;
  * mcp, approval required (`require_approval`, default "always"): an `mcp_approval_request`
    item (`output_item.added`/`.done`); the loop stops there: the client answers it in a later
    request (`previous_response_id` + an `mcp_approval_response` input item).
- the final answer's `output_text` gets one `file_citation` per file the searches returned
  (`response.output_text.annotation.added` before `response.output_text.done`).
- one terminal event: `response.completed` / `response.incomplete`, or `response.failed` when the
  model backend fails (streaming; `run` raises the `APIError` instead, as a plain request does).

Limits: at most `max_tool_calls` hosted calls run (the request's parameter: "The maximum number
of total calls to built-in tools that can be processed in a response"); calls beyond it end
`incomplete` and are not run, and hosted tools are no longer offered. After `MAX_MODEL_CALLS`
model calls hosted tools are no longer offered either, so a model that keeps calling cannot
loop forever. Usage is summed over the model calls.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reference.core import errors, ids, translate
from reference.core.envoy_contract import MAX_MODEL_CALLS
from reference.core.errors import APIError
from reference.core.streaming import StreamTranslator
from reference.mcp_client import (
    MCP_APPROVAL_REQUEST_PREFIX,
    MCP_CALL_PREFIX,
    MCPClientError,
    mangle_tool_name,
    mcp_approval_request_item,
    mcp_call_from_error,
    mcp_call_from_result,
    mcp_call_item,
)
from reference.retrieval import Hit, SearchOptions, file_citations, file_search_call_item, results_as_context
from reference.tools.hosted import (
    FILE_SEARCH_CALL_PREFIX,
    Binding,
    HostedTools,
    PendingApproval,
    ToolServices,
    mcp_output_text,
)

CallModel = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""Call the model once: a Chat Completions request in, the chat completion JSON out."""
StreamModel = Callable[[dict[str, Any]], AsyncIterator[dict[str, Any]]]
"""Call the model once, streaming: a Chat Completions request in, its chunks out."""

# (message item id, content index, file_citation annotations) of the answer to annotate.
_Citations = tuple[str, int, list[dict[str, Any]]]
INCLUDE_FILE_SEARCH_RESULTS = "file_search_call.results"
NOT_RUN_TEXT = "Not run: this response reached its limit of hosted tool calls."


@dataclass
class _Pending:
    """A hosted call of the current model turn."""

    local_index: int
    index: int  # position in the response output
    call_id: str
    name: str
    binding: Binding
    item: dict[str, Any]
    arguments: str = ""
    context: str = ""  # file_search: the results as the model reads them


@dataclass
class _Turn:
    """What one model call produced."""

    items: list[dict[str, Any]] = field(default_factory=list)  # its items as the model made them
    pending: list[_Pending] = field(default_factory=list)
    status: str = "completed"
    incomplete_details: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    offered: bool = True  # whether hosted tools were offered to the model for this turn


def add_usage(total: dict[str, Any] | None, usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Sum two Responses `usage` objects (numbers added, nested details too)."""
    if usage is None:
        return total
    if total is None:
        return copy.deepcopy(usage)
    out: dict[str, Any] = {}
    for key in {*total, *usage}:
        a, b = total.get(key), usage.get(key)
        if isinstance(a, dict) or isinstance(b, dict):
            out[key] = add_usage(a if isinstance(a, dict) else {}, b if isinstance(b, dict) else {})
        elif isinstance(a, int | float) or isinstance(b, int | float):
            out[key] = (a if isinstance(a, int | float) else 0) + (b if isinstance(b, int | float) else 0)
        else:
            out[key] = a if a is not None else b
    return out


class ToolLoop:
    """The state of one response's hosted tool loop (see the module docstring)."""

    def __init__(
        self,
        hosted: HostedTools,
        services: ToolServices,
        response: Mapping[str, Any],
        chat_request: Mapping[str, Any],
        *,
        include: Sequence[str] | None = None,
        max_tool_calls: int | None = None,
        approvals: Sequence[PendingApproval] = (),
        id_factory: Callable[[str], str] = ids.new_id,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hosted = hosted
        self.services = services
        self.response: dict[str, Any] = copy.deepcopy(dict(response))
        self.response["output"] = []
        self.response["status"] = "in_progress"
        self.output: list[dict[str, Any]] = self.response["output"]
        self._base = {k: copy.deepcopy(v) for k, v in chat_request.items() if k != "messages"}
        self.messages: list[dict[str, Any]] = copy.deepcopy(list(chat_request.get("messages") or []))
        self.include_results = INCLUDE_FILE_SEARCH_RESULTS in (include or ())
        self.max_tool_calls = max_tool_calls
        self.approvals = list(approvals)
        self.tool_calls = 0
        self.model_calls = 0
        self.hits: list[Hit] = []
        self._ids = id_factory
        self._clock = clock
        self._seq = 0
        self._usage: dict[str, Any] | None = None
        self._stopped_for_approval = False

    # --- public drivers -------------------------------------------------------------------------

    async def run(self, call_model: CallModel) -> dict[str, Any]:
        """Run the loop without streaming; return the finished response. A model failure raises
        its `APIError` (nothing is half-finished: the caller stores nothing)."""
        async for _event in self._events(call_model, None):
            pass
        return self.response

    async def stream(self, stream_model: StreamModel) -> AsyncIterator[dict[str, Any]]:
        """Run the loop streaming; yield Responses events. A failure ends the stream with
        `response.failed` (the response is then `failed`, its output what was produced)."""
        started = False
        try:
            async for event in self._events(None, stream_model):
                started = True
                yield event
        except APIError as err:
            for event in self.fail(err, started=started):
                yield event

    def fail(self, error: APIError, *, started: bool = True) -> list[dict[str, Any]]:
        out = [] if started else self._start_events()
        self.response["status"] = "failed"
        # Same `error` as a one-hop failure (`core.errors.response_error`: OpenAI's closed code list).
        self.response["error"] = errors.response_error(error)
        self.response["completed_at"] = None
        self.response["incomplete_details"] = None
        self.response["usage"] = self._usage
        out.append(self._event("response.failed", response=copy.deepcopy(self.response)))
        return out

    # --- the chat request -----------------------------------------------------------------------

    @property
    def offers_hosted(self) -> bool:
        if self.model_calls >= MAX_MODEL_CALLS - 1:
            return False
        return self.max_tool_calls is None or self.tool_calls < self.max_tool_calls

    def chat_request(self) -> dict[str, Any]:
        """The Chat Completions body for the next model call."""
        body = copy.deepcopy(self._base)
        body["messages"] = copy.deepcopy(self.messages)
        if not self.offers_hosted:
            tools = [t for t in body.get("tools") or []
                     if (t.get("function") or {}).get("name") not in self.hosted.bindings]
            if tools:
                body["tools"] = tools
            else:
                for key in ("tools", "tool_choice", "parallel_tool_calls"):
                    body.pop(key, None)
        if self.model_calls > 0 and isinstance(body.get("tool_choice"), dict | str) \
                and body.get("tool_choice") != "none" and "tools" in body:
            # A forced call ("required" or a named function) must not be forced again after the
            # tool ran, or the model could never answer.
            body["tool_choice"] = "auto"
        return body

    # --- events ---------------------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def _start_events(self) -> list[dict[str, Any]]:
        snapshot = copy.deepcopy(self.response)
        return [self._event("response.created", response=snapshot),
                self._event("response.in_progress", response=copy.deepcopy(snapshot))]

    def _added(self, index: int, item: Mapping[str, Any]) -> dict[str, Any]:
        return self._event("response.output_item.added", output_index=index, item=copy.deepcopy(dict(item)))

    def _done(self, index: int) -> dict[str, Any]:
        return self._event("response.output_item.done", output_index=index,
                           item=copy.deepcopy(self.output[index]))

    def _marker(self, kind: str, index: int) -> dict[str, Any]:
        return self._event(kind, output_index=index, item_id=self.output[index]["id"])

    async def _events(self, call_model: CallModel | None, stream_model: StreamModel | None
                      ) -> AsyncIterator[dict[str, Any]]:
        for event in self._start_events():
            yield event
        for item in self.hosted.list_items():
            # Listed (or taken from the cache) before the response started: a server that cannot
            # be listed is the request's 424, so the list always completes here.
            index = len(self.output)
            self.output.append(copy.deepcopy(item))
            yield self._added(index, item)
            yield self._marker("response.mcp_list_tools.in_progress", index)
            yield self._marker("response.mcp_list_tools.completed", index)
            yield self._done(index)
        async for event in self._run_approvals():
            yield event
        while True:
            request = self.chat_request()
            offered = self.offers_hosted
            turn = _Turn(offered=offered)
            if stream_model is not None:
                async for event in self._stream_turn(stream_model, request, turn):
                    yield event
            else:
                assert call_model is not None
                await self._call_turn(call_model, request, turn)
            self.model_calls += 1
            self._usage = add_usage(self._usage, turn.usage)
            self.response["status"] = turn.status
            self.response["incomplete_details"] = turn.incomplete_details
            async for event in self._after_turn(turn, offered):
                yield event
            if not self._continue(turn):
                break
        self._finish()
        kind = "response.completed" if self.response["status"] == "completed" else "response.incomplete"
        yield self._event(kind, response=copy.deepcopy(self.response))

    def _continue(self, turn: _Turn) -> bool:
        if not turn.pending or not turn.offered or self._stopped_for_approval or turn.status != "completed":
            return False
        # A call to one of the client's own functions ends the response: the client runs it.
        return all(item.get("type") != "function_call" or self._binding_of(item) is not None
                   for item in turn.items)

    def _finish(self) -> None:
        self.response["usage"] = self._usage if self._usage is not None else translate.usage_from_chat(None)
        self.response["error"] = None
        completed = self.response["status"] == "completed"
        self.response["completed_at"] = int(self._clock()) if completed else None

    # --- one model turn ----------------------------------------------------------------------------

    def _hosted_item(self, binding: Binding, name: str, arguments: str) -> dict[str, Any]:
        """The item that stands in the output for a call of hosted function `name`."""
        if binding.kind == "file_search":
            return file_search_call_item(self._ids(FILE_SEARCH_CALL_PREFIX), [], None, status="in_progress")
        assert binding.server is not None and binding.mcp_tool is not None
        label, tool = binding.server.label, binding.mcp_tool.name
        if binding.server.requires_approval(binding.mcp_tool):
            return mcp_approval_request_item(label, tool, arguments,
                                             item_id=self._ids(MCP_APPROVAL_REQUEST_PREFIX))
        return mcp_call_item(label, tool, arguments, status="in_progress", item_id=self._ids(MCP_CALL_PREFIX))

    def _binding_of(self, item: Mapping[str, Any]) -> Binding | None:
        if item.get("type") != "function_call":
            return None
        return self.hosted.binding(str(item.get("name")))

    async def _call_turn(self, call_model: CallModel, request: dict[str, Any], turn: _Turn) -> None:
        chat_json = await call_model(request)
        skeleton = {k: v for k, v in self.response.items() if k != "output"}
        result = translate.apply_chat_completion(skeleton, chat_json, id_factory=self._ids,
                                                 now=int(self._clock()))
        turn.items = copy.deepcopy(result["output"])
        turn.status = result["status"]
        turn.incomplete_details = result["incomplete_details"]
        turn.usage = result["usage"]
        for local, item in enumerate(result["output"]):
            index = len(self.output)
            binding = self._binding_of(item)
            if binding is None:
                self.output.append(item)
                continue
            hosted_item = self._hosted_item(binding, str(item["name"]), str(item.get("arguments") or ""))
            self.output.append(hosted_item)
            turn.pending.append(_Pending(local, index, str(item["call_id"]), str(item["name"]), binding,
                                         hosted_item, str(item.get("arguments") or "")))
        citations = None if turn.pending else self._citations_for(turn.items)
        if citations is not None:
            self._apply_citations(len(self.output) - len(turn.items), citations)

    async def _stream_turn(self, stream_model: StreamModel, request: dict[str, Any], turn: _Turn
                           ) -> AsyncIterator[dict[str, Any]]:
        skeleton = {k: v for k, v in self.response.items() if k != "output"}
        translator = StreamTranslator(skeleton, id_factory=self._ids, clock=self._clock)
        translator.start()  # this loop sends the response's own start events
        base = len(self.output)
        pending: dict[str, _Pending] = {}  # by the translator's function_call item id
        async for chunk in stream_model(request):
            for event in translator.feed(chunk):
                for out in self._rewrite(event, base, pending, turn):
                    yield out
        finish = translator.finish()
        turn.pending = sorted(pending.values(), key=lambda p: p.index)
        final = translator.response
        turn.items = copy.deepcopy(final["output"])
        turn.status = final["status"]
        turn.incomplete_details = final["incomplete_details"]
        turn.usage = final["usage"]
        citations = self._citations_for(final["output"]) if not turn.pending else None
        for event in finish:
            if event["type"] in ("response.completed", "response.incomplete"):
                continue
            if citations is not None and event.get("item_id") == citations[0] \
                    and event["type"] == "response.output_text.done":
                for out in self._annotation_events(citations):
                    yield out
            if citations is not None:
                _patch_annotations(event, citations)
            for out in self._rewrite(event, base, pending, turn):
                yield out
        for local, item in enumerate(final["output"]):
            if not any(p.local_index == local for p in turn.pending):
                self.output[base + local] = copy.deepcopy(item)
        if citations is not None:
            self._apply_citations(base, citations)

    def _rewrite(self, event: dict[str, Any], base: int, pending: dict[str, _Pending], turn: _Turn
                 ) -> list[dict[str, Any]]:
        """A translator event as this response's event(s): renumbered, `output_index` shifted,
        hosted function calls turned into their hosted items' events."""
        kind = event["type"]
        fields = {k: v for k, v in event.items() if k not in ("type", "sequence_number")}
        if "output_index" in fields:
            fields["output_index"] = base + fields["output_index"]
        item = fields.get("item")
        if kind == "response.output_item.added" and isinstance(item, dict):
            binding = self._binding_of(item)
            index = fields["output_index"]
            if binding is None:
                self.output.append(copy.deepcopy(item))
                return [self._event(kind, **fields)]
            hosted_item = self._hosted_item(binding, str(item["name"]), "")
            self.output.append(hosted_item)
            pending[str(item["id"])] = _Pending(index - base, index, str(item.get("call_id")),
                                                str(item["name"]), binding, hosted_item)
            out = [self._added(index, hosted_item)]
            if hosted_item["type"] == "file_search_call":
                out.append(self._marker("response.file_search_call.in_progress", index))
            elif hosted_item["type"] == "mcp_call":
                out.append(self._marker("response.mcp_call.in_progress", index))
            return out
        item_id = str(fields.get("item_id") or (item.get("id") if isinstance(item, dict) else ""))
        found = pending.get(item_id)
        if found is None:
            return [self._event(kind, **fields)]
        p = found
        if kind == "response.function_call_arguments.delta":
            p.arguments += str(fields.get("delta") or "")
            if p.item["type"] == "mcp_call":
                return [self._event("response.mcp_call_arguments.delta", output_index=p.index,
                                    item_id=p.item["id"], delta=fields.get("delta") or "")]
        elif kind == "response.function_call_arguments.done":
            p.arguments = str(fields.get("arguments") or p.arguments)
            if p.item["type"] != "file_search_call":
                p.item["arguments"] = p.arguments
            if p.item["type"] == "mcp_call":
                return [self._event("response.mcp_call_arguments.done", output_index=p.index,
                                    item_id=p.item["id"], arguments=p.arguments)]
        elif kind == "response.output_item.done" and p.item["type"] == "mcp_approval_request":
            # Nothing to run: the request is complete once its arguments are.
            return [self._done(p.index)]
        # Other events of a hosted call (its `output_item.done`) are sent once it has run.
        return []

    # --- citations -----------------------------------------------------------------------------------

    def _citations_for(self, turn_output: list[dict[str, Any]]) -> _Citations | None:
        """(message item id, content index, citations) for a final turn ending in a message."""
        if not self.hits or not turn_output or turn_output[-1].get("type") != "message":
            return None
        message = turn_output[-1]
        for content_index, part in enumerate(message.get("content") or []):
            if part.get("type") == "output_text":
                return str(message["id"]), content_index, file_citations(self.hits, len(part["text"]))
        return None

    def _annotation_events(self, citations: _Citations) -> list[dict[str, Any]]:
        item_id, content_index, annotations = citations
        index = next(i for i, item in enumerate(self.output) if item.get("id") == item_id)
        return [self._event("response.output_text.annotation.added", item_id=item_id, output_index=index,
                            content_index=content_index, annotation_index=n, annotation=copy.deepcopy(a))
                for n, a in enumerate(annotations)]

    def _apply_citations(self, base: int, citations: _Citations) -> None:
        item_id, content_index, annotations = citations
        for item in self.output[base:]:
            if item.get("id") == item_id:
                item["content"][content_index]["annotations"] = copy.deepcopy(annotations)

    # --- running hosted calls ---------------------------------------------------------------------

    def _budget_left(self) -> bool:
        return self.max_tool_calls is None or self.tool_calls < self.max_tool_calls

    async def _after_turn(self, turn: _Turn, offered: bool) -> AsyncIterator[dict[str, Any]]:
        tool_messages: list[dict[str, Any]] = []
        for p in turn.pending:
            if p.item["type"] == "mcp_approval_request":
                p.item["arguments"] = p.arguments
                self._stopped_for_approval = True
                continue
            if not offered or not self._budget_left():
                async for event in self._skip(p):
                    yield event
                tool_messages.append(_tool_message(p.call_id, NOT_RUN_TEXT))
                continue
            self.tool_calls += 1
            if p.item["type"] == "file_search_call":
                async for event in self._run_file_search(p):
                    yield event
                tool_messages.append(_tool_message(p.call_id, p.context))
            else:
                async for event in self._run_mcp(p):
                    yield event
                tool_messages.append(_tool_message(p.call_id, mcp_output_text(p.item)))
        if turn.pending:
            self.messages.extend(translate.items_to_messages(turn.items))
            self.messages.extend(tool_messages)

    async def _skip(self, p: _Pending) -> AsyncIterator[dict[str, Any]]:
        p.item["status"] = "incomplete"
        if p.item["type"] == "file_search_call":
            p.item["queries"] = _queries(p.arguments)
        else:
            p.item["arguments"] = p.arguments
        yield self._done(p.index)

    async def _run_file_search(self, p: _Pending) -> AsyncIterator[dict[str, Any]]:
        assert p.binding.file_search is not None
        spec = p.binding.file_search
        queries = _queries(p.arguments)
        p.item["queries"] = queries
        p.item["status"] = "searching"
        yield self._marker("response.file_search_call.searching", p.index)
        context: str
        if not queries:
            p.item["status"] = "failed"
            context = 'Error: file_search needs a "query" string argument.'
        else:
            options = SearchOptions(tuple(queries), spec.tool.options.max_num_results,
                                    spec.tool.options.score_threshold, spec.tool.options.ranker, False,
                                    spec.tool.options.filters)
            try:
                hits = await self.services.search(spec.tool.vector_store_ids, options)
            except APIError as exc:
                p.item["status"] = "failed"
                context = f"Error: the search failed: {exc.message}"
            else:
                self.hits.extend(hits)
                done = file_search_call_item(p.item["id"], queries, hits if self.include_results else None)
                p.item.clear()
                p.item.update(done)
                context = results_as_context(hits)
        if p.item["status"] == "completed":
            yield self._marker("response.file_search_call.completed", p.index)
        p.context = context
        yield self._done(p.index)

    async def _run_mcp(self, p: _Pending, approval_request_id: str | None = None
                       ) -> AsyncIterator[dict[str, Any]]:
        assert p.binding.server is not None and p.binding.mcp_tool is not None
        server, tool = p.binding.server, p.binding.mcp_tool
        arguments = p.arguments or "{}"
        try:
            parsed = json.loads(arguments)
            if not isinstance(parsed, dict):
                raise ValueError("not an object")
        except ValueError:
            done = mcp_call_item(server.label, tool.name, arguments, status="failed",
                                 error={"type": "mcp_protocol_error", "code": -32602,
                                        "message": "The tool arguments are not a JSON object."},
                                 approval_request_id=approval_request_id, item_id=p.item["id"])
        else:
            try:
                result = await self.services.mcp.call_tool(server.ref, tool.name, parsed)
            except MCPClientError as exc:
                done = mcp_call_from_error(server.label, tool.name, arguments, exc,
                                           approval_request_id=approval_request_id, item_id=p.item["id"])
            else:
                done = mcp_call_from_result(server.label, tool.name, arguments, result,
                                            approval_request_id=approval_request_id, item_id=p.item["id"])
        p.item.clear()
        p.item.update(done)
        ok = done["status"] == "completed"
        yield self._marker("response.mcp_call.completed" if ok else "response.mcp_call.failed", p.index)
        yield self._done(p.index)

    async def _run_approvals(self) -> AsyncIterator[dict[str, Any]]:
        """Run the calls the request approved (before the first model call)."""
        for approval in self.approvals:
            if not approval.decision.approve:
                continue  # the declined call is in the chat history already (hosted.expand_history)
            request = approval.request
            label, name = str(request.get("server_label")), str(request.get("name"))
            server = self.hosted.server(label)
            assert server is not None  # checked by hosted.pending_approvals
            tool = next((t for t in server.tools if t.name == name), None)
            arguments = str(request.get("arguments") or "{}")
            index = len(self.output)
            call_id = str(request.get("id"))
            if tool is None:
                # The tool is no longer listed or no longer allowed: it must not run.
                item = mcp_call_item(label, name, arguments, status="failed", approval_request_id=call_id,
                                     item_id=self._ids(MCP_CALL_PREFIX),
                                     error={"type": "mcp_protocol_error", "code": -32602,
                                            "message": f"Tool '{name}' is not allowed for this request."})
                self.output.append(item)
                yield self._added(index, item)
                yield self._marker("response.mcp_call.failed", index)
                yield self._done(index)
            else:
                item = mcp_call_item(label, name, arguments, status="in_progress",
                                     approval_request_id=call_id, item_id=self._ids(MCP_CALL_PREFIX))
                self.output.append(item)
                p = _Pending(-1, index, call_id, mangle_tool_name(label, name), Binding(
                    "mcp", server=server, mcp_tool=tool), item, arguments)
                yield self._added(index, item)
                yield self._marker("response.mcp_call.in_progress", index)
                yield self._event("response.mcp_call_arguments.done", output_index=index, item_id=item["id"],
                                  arguments=arguments)
                self.tool_calls += 1
                async for event in self._run_mcp(p, approval_request_id=call_id):
                    yield event
            self.messages.extend(translate.items_to_messages([
                {"type": "function_call", "call_id": call_id, "name": mangle_tool_name(label, name),
                 "arguments": arguments},
                {"type": "function_call_output", "call_id": call_id,
                 "output": mcp_output_text(self.output[index])},
            ]))


def _tool_message(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def _queries(arguments: str) -> list[str]:
    """The queries of a file_search call: `{"query": "..."}` or `{"queries": [...]}`."""
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return []
    if not isinstance(parsed, dict):
        return []
    queries = parsed.get("queries")
    if isinstance(queries, list):
        return [q for q in queries if isinstance(q, str) and q.strip()]
    query = parsed.get("query")
    return [query] if isinstance(query, str) and query.strip() else []


def _patch_annotations(event: dict[str, Any], citations: _Citations) -> None:
    """Put the citations into a translator event that carries the cited part or message."""
    item_id, content_index, annotations = citations
    if event["type"] == "response.content_part.done" and event.get("item_id") == item_id \
            and event.get("content_index") == content_index:
        event["part"]["annotations"] = copy.deepcopy(annotations)
    elif event["type"] == "response.output_item.done" and event["item"].get("id") == item_id:
        event["item"]["content"][content_index]["annotations"] = copy.deepcopy(annotations)
