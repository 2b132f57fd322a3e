"""A fake OpenAI-compatible chat-completions server on 127.0.0.1, for tests (ours and users').

It behaves like a real server where the judge client can tell the difference:
- `response_format`: with `schema_only=True` it answers in-schema JSON only when the request asks for
  the schema (as vLLM/SGLang with structured outputs do), and in prose otherwise (as a small model
  does); with `refuse_schema=True` it rejects the field with a 400 that names it (as servers without
  structured-output support do).
- faults, one per request in order (then `ok` for ever): `ok`, `429:N` (Retry-After N seconds),
  `429date:N` (Retry-After as an HTTP-date N seconds ahead), `500`, `trickle:S` (a 200 whose body
  arrives one byte every S seconds), `slow:S` (a healthy answer after S seconds), `silence`
  (accepts, never answers), `invented` (a verdict whose quotes are not in the attempt), `prose` (no
  JSON at all).
The judge it plays rates every criterion at its top level and quotes the attempt's first sentence
(the always-full-marks judge), so a test knows what a healthy call scores.

Only a loopback address is ever bound. Use as a context manager:

    with FakeJudgeServer(faults=["429:1"]) as srv:
        judge = OpenAICompatibleJudge(srv.url, "fake", timeout_s=5)
"""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CRITERION = re.compile(r"^- ([A-Za-z0-9_.-]+): .* Scale (-?\d+)\.\.(-?\d+) \(", re.M)
_SENTENCE = re.compile(r"^\[S(\d+)\] (.*)$", re.M)


def full_marks_verdict(prompt: str, *, invented: bool = False) -> str:
    """The verdict an always-full-marks judge writes for a rendered judge prompt."""
    criteria = [(m.group(1), int(m.group(3))) for m in _CRITERION.finditer(prompt)]
    first = next((m.group(2) for m in _SENTENCE.finditer(prompt)), "")
    quote = "the derivation is complete and every step is justified" if invented else first
    return json.dumps({"criteria": [
        {"name": n, "reason": "Fully meets the criterion.", "verdict": hi,
         "quotes": [{"sentence": 1, "text": quote}] if quote else []} for n, hi in criteria]})


class FakeJudgeServer:
    def __init__(self, faults: Sequence[str] = (), *, schema_only: bool = False, refuse_schema: bool = False,
                 default: str = "ok") -> None:
        self.faults = list(faults)
        self.schema_only = schema_only
        self.refuse_schema = refuse_schema
        self.default = default
        self.requests: list[dict[str, Any]] = []  # bodies, in arrival order
        self.arrivals: list[float] = []  # time.monotonic() of each request
        self.authorizations: list[str | None] = []  # each request's Authorization header
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def _next(self) -> str:
        with self._lock:
            return self.faults.pop(0) if self.faults else self.default

    def start(self) -> FakeJudgeServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with owner._lock:
                    owner.requests.append(body)
                    owner.arrivals.append(time.monotonic())
                    owner.authorizations.append(self.headers.get("Authorization"))
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                fault = owner._next()
                kind, _, arg = fault.partition(":")
                asked_schema = isinstance(body.get("response_format"), dict) and \
                    body["response_format"].get("type") == "json_schema"
                if owner.refuse_schema and "response_format" in body:
                    self._send(400, {"error": {"message": "response_format is not supported by this server",
                                               "param": "response_format"}})
                    return
                if kind == "429":
                    self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": arg or "1"})
                    return
                if kind == "429date":
                    when = email.utils.formatdate(time.time() + float(arg or 1), usegmt=True)
                    self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": when})
                    return
                if kind == "500":
                    self._send(500, {"error": {"message": "internal error"}})
                    return
                if kind == "silence":
                    owner._stop.wait()
                    return
                if kind == "slow" and owner._stop.wait(float(arg or 1)):
                    return
                prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
                if kind == "prose" or (owner.schema_only and not asked_schema):
                    content = "The attempt looks good to me; I would rate it highly."
                else:
                    content = full_marks_verdict(prompt, invented=kind == "invented")
                reply = {"id": "fake", "object": "chat.completion", "model": body.get("model", ""),
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(content) // 4}}
                if kind == "trickle":
                    data = json.dumps(reply).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.flush()
                    for b in data:
                        if owner._stop.wait(float(arg or 20)):
                            return
                        try:
                            self.wfile.write(bytes([b]))
                            self.wfile.flush()
                        except OSError:  # the client gave up: what a deadline is for
                            return
                    return
                self._send(200, reply)

        # loopback only: nothing outside this machine can reach the fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-judge", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # releases silent and trickling handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeJudgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
