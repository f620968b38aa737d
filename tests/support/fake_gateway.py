"""Test helpers from tests/conformance/test_harness_fake_gateway.py, shared with other test modules."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, request

_counter = itertools.count(1)


def _err(
    status: int,
    message: str,
    param: str | None = None,
    *,
    flat: bool = False,
    ctype: str = "application/json",
) -> Response:
    body: dict[str, Any] = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    return Response(json.dumps(body if flat else {"error": body}), status=status, content_type=ctype)


class FakeGateway:
    def __init__(self) -> None:
        self.broken: set[str] = set()
        self.scripted = False
        self.profile = "openai"
        self.store: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.app = self._build()

    # ------------------------------------------------------------------ model
    def _reply_text(self, text: str) -> str:
        if self.scripted:
            m = re.search(r"\[\[probe:([^\]]*)\]\]", text)
            if m:
                return "fixtures.backend/1 " + hashlib.sha256(m.group(1).encode()).hexdigest()[:16]
            m = re.search(r"\[\[text:(.*?)\]\]", text, re.S)
            if m:
                return " ".join(m.group(1).split()) if "scripted-text-mangled" in self.broken else m.group(1)
        return "Hello from the fake gateway."

    def _input_text(self, body: dict[str, Any]) -> str:
        inp = body.get("input")
        if isinstance(inp, str):
            return inp
        texts = []
        for item in inp or []:
            content = item.get("content") if isinstance(item, dict) else None
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts += [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(texts)

    def _response(self, body: dict[str, Any], text: str, status: str) -> dict[str, Any]:
        b = self.broken
        rid = "resp_fixed" if "id-reuse" in b else f"resp_{next(_counter):08d}"
        if "id-prefix" in b:
            rid = "r" + rid[4:]
        created = int(time.time())
        in_tok = len(self._input_text(body).split())
        out_tok = len(text.split()) if text else 0
        resp: dict[str, Any] = {
            "id": rid,
            "object": "responses" if "object" in b else "response",
            "created_at": created * 1000 if "created-ms" in b else created,
            "completed_at": created if status == "completed" else None,
            "status": "done"
            if "status-bogus" in b
            else ("in_progress" if "status-in-progress" in b else status),
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": "other-model" if "model-echo" in b else body.get("model"),
            "output": [],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": body.get("store", True),
            "background": False,
            "service_tier": "default",
            "temperature": None if "no-echo" in b else body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": body.get("top_p", 1.0),
            "top_logprobs": 0,
            "truncation": "disabled",
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
            "usage": None,
            "metadata": body.get("metadata") or {},
            "safety_identifier": None,
            "prompt_cache_key": None,
        }
        if "missing-field" in b:
            del resp["tools"]
        if status == "completed" and "no-message" not in b:
            part: dict[str, Any] = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            if "part-shape" in b:
                del part["annotations"]
            resp["output"] = [
                {
                    "id": f"msg_{rid}",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [part],
                }
            ]
        if status == "completed":
            resp["usage"] = {
                "input_tokens": in_tok,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": out_tok,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": in_tok + out_tok + (1 if "usage-sum" in b else 0),
            }
        return resp

    # ------------------------------------------------------------------ streaming
    def _events(self, body: dict[str, Any], text: str) -> list[dict[str, Any]]:
        b = self.broken
        final = self._response(body, text, "completed")
        skeleton = {
            **final,
            "status": "completed" if "stream-created-status" in b else "in_progress",
            "output": [],
            "usage": None,
            "completed_at": None,
        }
        item_id = f"msg_{final['id']}"
        if self.scripted and "stream-one-delta" not in b:
            pieces = re.findall(r"\S+\s*|\s+", text)
        else:
            pieces = (
                [text[: len(text) // 2], text[len(text) // 2 :]] if "stream-one-delta" not in b else [text]
            )
        if "stream-deltas" in b:
            pieces = pieces[:-1]
        part_empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": skeleton},
            {"type": "response.in_progress", "response": skeleton},
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {
                    "id": item_id,
                    "type": "message",
                    "role": "assistant",
                    "status": "in_progress",
                    "content": [],
                },
            },
            {
                "type": "response.content_part.added",
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "part": part_empty,
            },
        ]
        events += [
            {
                "type": "response.output_text.delta",
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": p,
                "logprobs": [],
            }
            for p in pieces
        ]
        events += [
            {
                "type": "response.output_text.done",
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            },
            {
                "type": "response.content_part.done",
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "part": {**part_empty, "text": text},
            },
            {"type": "response.output_item.done", "output_index": 0, "item": final["output"][0]},
        ]
        if "stream-completed-status" in b:
            final = {**final, "status": "in_progress"}
        if self.scripted and "[[drop]]" in self._input_text(body) and "stream-drop-completed" not in b:
            # the backend went away mid-stream: an error event, then response.failed
            events = events[:5]
            error = {"code": "backend_error", "message": "backend closed the stream", "param": None}
            nested = (self.profile == "openresponses") != ("error-event-shape-flip" in b)
            events.append(
                {"type": "error", "error": {**error, "type": "server_error"}}
                if nested
                else {"type": "error", **error}
            )
            failed = {
                **final,
                "status": "failed",
                "output": [],
                "usage": None,
                "error": {"code": error["code"], "message": error["message"]},
            }
            events.append({"type": "response.failed", "response": failed})
            for i, ev in enumerate(events):
                ev["sequence_number"] = i
            return events
        events.append({"type": "response.completed", "response": final})
        if "stream-two-terminals" in b:
            events.append({"type": "response.completed", "response": final})
        if "stream-created-late" in b:
            events[0], events[1] = events[1], events[0]
        for i, ev in enumerate(events):
            if "stream-seq-gap" in b:
                ev["sequence_number"] = 2 * i  # still increasing, with gaps
            else:
                ev["sequence_number"] = 0 if "stream-seq" in b else i
        if "stream-not-stored" not in b and body.get("store", True):
            self.store[final["id"]] = final
        return events

    async def _sse(self, events: list[dict[str, Any]]) -> AsyncIterator[bytes]:
        b = self.broken
        done = (self.profile == "openresponses") != ("stream-done-flip" in b)
        frames = []
        for ev in events:
            head = "" if "stream-event-field" in b else f"event: {ev['type']}\n"
            if "stream-event-id" in b:
                head = f"id: {len(frames)}\n{head}"
            frames.append(f"{head}data: {json.dumps(ev)}\n\n")
        if "stream-garbage" in b:
            frames.insert(2, "event: response.in_progress\ndata: {not json\n\n")
        if done:
            frames.append("data: [DONE]\n\n")
        if "stream-unterminated" in b:
            frames[-1] = frames[-1][:-2]
        for frame in frames:
            # split frames across network chunks on purpose: the parser must cope
            half = len(frame) // 2
            yield frame[:half].encode()
            await asyncio.sleep(0)
            yield frame[half:].encode()

    # ------------------------------------------------------------------ routes
    def _build(self) -> Quart:
        app = Quart("fake-gateway")
        gw = self

        @app.post("/v1/responses")
        async def create() -> Any:
            b = gw.broken
            raw = await request.get_data()
            flat = "error-shape" in b
            ectype = "text/plain" if "error-ctype" in b else "application/json"
            try:
                body = json.loads(raw)
            except ValueError:
                if "invalid-json-500" in b:
                    return _err(500, "internal error", flat=flat, ctype=ectype)
                return _err(400, "invalid JSON body", flat=flat, ctype=ectype)
            gw.requests.append(body)
            if not isinstance(body.get("model"), str):
                if "missing-model-200" in b:
                    body["model"] = "default"
                else:
                    param = None if "missing-model-no-param" in b else "model"
                    return _err(400, "model is required", param, flat=flat, ctype=ectype)
            if "input-list-400" in b and not isinstance(body.get("input"), str):
                return _err(400, "input must be a string")
            text = gw._reply_text(gw._input_text(body))
            if body.get("stream"):
                events = gw._events(body, text)
                ctype = "application/json" if "stream-ctype" in b else "text/event-stream"
                return Response(gw._sse(events), content_type=ctype)
            resp = gw._response(body, text, "completed")
            if body.get("store", True) or "store-ignored" in b:
                gw.store[resp["id"]] = resp
            ctype = "text/plain" if "content-type" in b else "application/json"
            if "create-null" in b:  # a handler written for streams only
                return Response("null", content_type=ctype)
            return Response(json.dumps(resp), content_type=ctype)

        @app.get("/v1/responses/<rid>")
        async def get(rid: str) -> Any:
            b = gw.broken
            if rid not in gw.store:
                status = 400 if "unknown-400" in b else 404
                return _err(
                    status,
                    f"no response {rid}",
                    flat="error-shape" in b,
                    ctype="text/plain" if "error-ctype" in b else "application/json",
                )
            resp = gw.store[rid]
            if "get-mismatch" in b:
                resp = {**resp, "output": []}
            return Response(json.dumps(resp), content_type="application/json")

        @app.delete("/v1/responses/<rid>")
        async def delete(rid: str) -> Any:
            b = gw.broken
            if rid not in gw.store and "delete-always-200" not in b:
                return _err(404, f"no response {rid}")
            if "delete-noop" not in b:
                gw.store.pop(rid, None)
            return Response(
                json.dumps({"id": rid, "object": "response.deleted", "deleted": True}),
                content_type="application/json",
            )

        return app


class RunningFake:
    def __init__(self, gateway: FakeGateway) -> None:
        self.gateway = gateway
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        config = Config()
        config.bind = [f"fd://{self.sock.detach()}"]  # Hypercorn owns (and closes) it
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 1.0
        self._loop.run_until_complete(serve(self.gateway.app, config, shutdown_trigger=self._stop.wait))  # type: ignore[arg-type]

    def start(self) -> RunningFake:
        self._thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(self.base_url + "/responses/resp_x", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("fake gateway did not start")

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
