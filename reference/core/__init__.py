"""The sans-IO core: Responses <-> Chat Completions translation, events, errors, ids.

What the adapters (HTTP, ext_proc, WebSocket) and the engine use from here:

- `errors.APIError(status, message, type="invalid_request_error", param=None, code=None)`,
  `.body() -> {"error": {...}}`; helpers `invalid_request`, `not_found`, `payload_too_large`,
  `backend_unreachable` (502), `backend_bad_response` (502), `backend_timeout` (504),
  `from_backend_http(status, body_bytes)` (a backend 4xx is passed on with its message and status,
  a 5xx becomes 502), `from_validation_error(pydantic.ValidationError)` (400 naming `param`).
- `models.CreateResponseRequest.parse(body: bytes | dict) -> CreateResponseRequest` (raises
  `APIError` 400). `models.Response` and its siblings describe the output objects for
  `/openapi.json`.
- `responses.new_response(req, *, response_id, created_at, status) -> dict`: the response
  skeleton echoing the request's parameters, carrying every field both profiles require.
- `translate.to_chat_request(req, history_items, *, stream, own_items=None) -> dict`:
  `history_items` are Responses items (earlier inputs and outputs) placed before the request's
  own input (`own_items`, the caller's `input_items(req)`, built here when None); only the
  request's own `instructions` become the system message.
- `translate.input_items(req) -> list[dict]`: the request's input normalised to items with ids.
- `translate.apply_chat_completion(response, chat_json) -> dict`: fills output, usage, status.
  Both it and `StreamTranslator` leave out a tool call to a function the response's
  `tool_choice.allowed_tools` does not list (`translate.allowed_tool_names`).
  `translate.parse_chat_completion(body) -> dict`: a backend's non-streaming answer, or the 502
  both adapters give for anything that is not a chat completion object.
- `serialization.dump(obj) -> str` / `dump_bytes(obj) -> bytes`: the one JSON serialisation
  (compact, UTF-8 kept) of responses, events, stored objects and chat requests.
- `envoy_contract.LOCAL_REPLY_HEADER`, `envoy_contract.MAX_MODEL_CALLS`: what the Envoy config
  (`gateway_envoy.launcher` imports them) and the gateway code agree on.
- `streaming.StreamTranslator(response_skeleton)`: `start()`, `feed(chunk)`, `finish()` and
  `fail(error)` each return a list of event dicts with a monotonic `sequence_number`;
  `.response` is the final object and `.terminated` tells whether the terminal event went out.
  `fail()` before `start()` emits the start events first; a call after the terminal event raises
  `RuntimeError`.
- `sse.encode_event(event) -> bytes` (`event: <type>\\ndata: <json>\\n\\n`); `sse.TERMINAL_EVENTS`;
  `sse.EventStreamEncoder(done_marker=...)`: the `[DONE]` policy of both adapters (Open
  Responses: `data: [DONE]` right after the terminal event; OpenAI: none); `sse.DONE` is the
  `[DONE]` sentinel and `sse.encode_done()` its bytes. `sse.ChatStreamDecoder().feed(bytes) ->
  list[dict | DONE]` raises `APIError` 502 on garbage; its `close()` dispatches an unterminated
  last event at the end of the body.
- `pagination.paginate(items, *, limit, after, before, order) -> {"object": "list", "data",
  "first_id", "last_id", "has_more"}`; invalid parameters, an unknown `after` / `before` cursor
  included, are 400s naming the param.
- `ids.new_id(prefix)`.

`translate.input_items`, `translate.apply_chat_completion` and `StreamTranslator` take an
optional `id_factory=` (and `now=` / `clock=`) so tests can make ids and timestamps deterministic.
"""
