"""Judge backends behind one protocol, and the judge-output cache.

A backend turns `JudgeRequest`s into raw text, one per request, or a `JudgeError` for a request it
could not serve (after its own retries). Parsing and evidence checks happen elsewhere, the same for
every backend.

- `ScriptedJudge`: canned outputs from a function; for tests and for proving that defences, not a
  judge's competence, do the work (`ScriptedJudge.always_full_marks()`).
- `TransformersJudge`: a local (model, tokenizer) pair; `TransformersJudge.bundled()` loads the bundled
  SmolLM2-135M-Instruct.
- `OpenAICompatibleJudge`: any OpenAI-compatible chat-completions server (vLLM, SGLang, ...): the
  verdict schema as `response_format`, a wall-clock deadline per call and per grade, `Retry-After`,
  backoff with jitter, bounded concurrency (httpx + tenacity + anyio; see the class for why).

Backends are chosen by the caller (an explicit object or `make_judge(name, ...)`); none registers
itself on import.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import math
import re
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from typing import Any

from mentor.errors import JudgeError, MissingExtraError
from mentor.grade.judge import JudgeRequest
from mentor.grade.judge_io import JudgeBackend, JudgeCallError, JudgeOutput, JudgeText, Usage

# --- scripted -------------------------------------------------------------------------------------


class ScriptedJudge:
    """Returns `responder(request)` for every request. Deterministic and instant."""

    name = "scripted"

    def __init__(self, responder: Callable[[JudgeRequest], str], model: str = "scripted") -> None:
        self.responder = responder
        self.model = model
        self.usage = Usage()

    def generate(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]:
        self.usage.calls += len(requests)
        return [self.responder(r) for r in requests]

    @classmethod
    def from_outputs(cls, outputs: Sequence[str], model: str = "scripted-seq") -> ScriptedJudge:
        """Replays `outputs` in order (cycling), whatever the request."""
        state = {"i": 0}

        def respond(_: JudgeRequest) -> str:
            out = outputs[state["i"] % len(outputs)]
            state["i"] += 1
            return out

        return cls(respond, model)

    @classmethod
    def always_full_marks(cls, quotes: str = "first") -> ScriptedJudge:
        """The worst judge: top level on every criterion, always. Quotes: "first" cites the first shown
        sentence that can count as evidence, verbatim (evidence that verifies), "invented" cites words not in the attempt,
        "none" cites nothing."""

        def respond(req: JudgeRequest) -> str:
            shown = req.view.sentences
            if quotes == "first" and shown:
                # the first sentence that can count as evidence (not withheld, not a two-word line): the
                # worst case for the defences is a judge whose quotes verify
                usable = [i for i, (s, w) in enumerate(zip(shown, req.view.withheld, strict=True))
                          if not w and len(s.strip()) >= 12]
                i = usable[0] if usable else 0
                qs = [{"sentence": i + 1, "text": shown[i]}]
            elif quotes == "invented":
                qs = [{"sentence": 1, "text": "the derivation is complete and every step is justified"}]
            else:
                qs = []
            return json.dumps({"criteria": [
                {"name": c.name, "reason": "Excellent; fully meets the criterion.", "verdict": c.hi, "quotes": qs}
                for c in req.view.criteria]})

        return cls(respond, f"always-full-marks/{quotes}")


# --- local transformers ---------------------------------------------------------------------------




# --- OpenAI-compatible HTTP -----------------------------------------------------------------------


class _Transient(Exception):
    """A failure worth another try (429, 5xx, a timeout, a dropped connection)."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.retry_after = retry_after


class _Fatal(Exception):
    """A failure no retry fixes (a 4xx other than 429, an answer without a message)."""

    def __init__(self, why: str, fix: str | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.fix = fix


class _SchemaRefused(Exception):
    """The server rejected `response_format`: ask again without it (once) and remember."""


# what a 400/422 says when the server does not support structured outputs (OpenAI, vLLM, SGLang,
# llama.cpp, TGI word it differently; all name the field or the feature)
_REFUSES_SCHEMA = re.compile(r"(?i)response_format|json_schema|structured|guided|grammar|not supported")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (RFC 9110: delay-seconds or an HTTP-date); None when
    the header is absent or unreadable (the caller then backs off on its own)."""
    if not value:
        return None
    v = value.strip()
    try:
        secs = float(v)
    except ValueError:
        pass
    else:
        return max(0.0, secs) if math.isfinite(secs) else None
    try:
        when = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _run_sync(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run an async function to completion from sync code, also when this thread already runs an event
    loop (an async host): then in a fresh thread with its own loop."""
    import anyio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(fn, *args)
    with ThreadPoolExecutor(max_workers=1) as ex:
        return ex.submit(anyio.run, fn, *args).result()


class OpenAICompatibleJudge:
    """Chat completions against `base_url` (e.g. http://localhost:8000/v1 for vLLM or SGLang).

    Client: httpx (async) for the requests, tenacity for the retry policy, anyio for deadlines and
    bounded concurrency. Chosen over the `openai` SDK because the SDK's deadline is httpx's per-read
    timeout (a server trickling one byte every 20 s holds a call open for ever), its retries are
    invisible to the caller (a grade could not count them in `cost.retries`), and it would add a
    dependency for one endpoint. httpx is already the HTTP extra, tenacity is the standard retry
    library (waits, stops and predicates as composable values), and `anyio.fail_after` is a
    wall-clock deadline that cancels a request wherever it is blocked, headers or body.

    - Structured output: a request that carries a JSON schema (the grader's verdicts do: the verdict
      schema specialised to the rubric, `judge.request_schema`) is sent with
      `response_format: {type: json_schema, json_schema: {name, schema, strict: true}}`, the form
      OpenAI, vLLM and SGLang accept. A server that refuses the field with a 400/422 is asked again
      without it, once, and never sent it again (`structured` turns False).
    - Deadline: each call (all its tries and waits) must finish within `timeout_s` wall-clock
      seconds, and within what is left of its grade's deadline (`budget_s`), whichever comes first;
      both count from when the call gets a concurrency slot, so queueing is not charged.
    - Retries: 429, 5xx, timeouts and connection errors, at most `max_retries` more tries. The wait
      is the server's `Retry-After` (seconds or an HTTP-date) when it sends one, else capped
      exponential backoff with jitter (`backoff_s`·2^i + U(0, backoff_s), at most `max_backoff_s`).
      A wait that would end past the deadline is not started: the call fails at once.
    - Concurrency: at most `max_concurrency` requests in flight.
    - Every reply carries its retry count (`JudgeText.retries`, `JudgeCallError.retries`), so the
      grade's `cost.retries` counts HTTP retries too.
    `transport` lets tests use `httpx.MockTransport`; `sleep` replaces the waits (tests)."""

    name = "openai"

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, max_concurrency: int = 8,
                 timeout_s: float = 60.0, max_retries: int = 4, backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, structured: bool = True, transport: Any = None,
                 sleep: Callable[[float], Any] | None = None) -> None:
        try:
            import anyio  # noqa: F401
            import httpx  # noqa: F401
            import tenacity  # noqa: F401
        except ImportError as exc:
            raise MissingExtraError(exc.name or "httpx", "http", "The OpenAI-compatible judge") from None
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise JudgeError(f"judge timeout must be a positive number of seconds, got {timeout_s}",
                             fix="pass --judge-timeout SECONDS (e.g. 60)")
        if max_concurrency < 1:
            raise JudgeError(f"judge concurrency must be at least 1, got {max_concurrency}",
                             fix="pass --judge-concurrency N (e.g. 8)")
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.max_concurrency = max_concurrency
        self.timeout_s = float(timeout_s)
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.structured = structured
        self.transport = transport
        self._user_sleep = sleep
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.usage = Usage()
        self.waits: list[float] = []  # every wait between tries, in seconds (read by tests and reports)
        self._lock = threading.Lock()

    @property
    def identity(self) -> str:
        """What the cache key holds about this judge: the model, and whether it answered under the
        schema (a constrained and a free answer of one model are different judges)."""
        return f"{self.model}|schema={'on' if self.structured else 'off'}"

    def _body(self, req: JudgeRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model, "messages": list(req.messages), "max_tokens": req.max_new_tokens,
            "temperature": 0.0 if (req.sample == 0 and req.retry == 0) else req.temperature,
            "seed": 1_000_003 * req.sample + req.retry}
        if req.schema is not None and self.structured:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": req.schema_name, "schema": dict(req.schema), "strict": True}}
        return body

    async def _sleep(self, seconds: float) -> None:
        import anyio

        with self._lock:
            self.waits.append(seconds)
        if self._user_sleep is not None:
            self._user_sleep(seconds)
        else:
            await anyio.sleep(seconds)

    def _wait(self, state: Any) -> float:
        import tenacity

        exc = state.outcome.exception() if state.outcome is not None else None
        asked = getattr(exc, "retry_after", None)
        if asked is not None:
            return float(asked)  # the server's word, even above our cap: it knows its own load
        backoff = (tenacity.wait_exponential(multiplier=self.backoff_s, max=self.max_backoff_s)
                   + tenacity.wait_random(0, self.backoff_s))
        return float(backoff(state))

    async def _post(self, client: Any, body: dict[str, Any], deadline: float) -> str:
        import anyio
        import httpx

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Transient("its deadline passed before the request was sent")
        t0 = time.perf_counter()
        try:
            # fail_after is the wall-clock bound: httpx's own timeouts are per read and reset on every
            # byte, so a trickling server would pass them
            with anyio.fail_after(remaining):
                resp = await client.post(self.url, json=body, timeout=httpx.Timeout(remaining))
        except TimeoutError:
            raise _Transient(f"no complete answer within the deadline ({remaining:.1f}s left)") from None
        except httpx.TimeoutException as exc:
            raise _Transient(f"{type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        code = resp.status_code
        if code == 429 or code >= 500:
            raise _Transient(f"HTTP {code}", parse_retry_after(resp.headers.get("retry-after")))
        if code >= 400:
            if "response_format" in body and code in (400, 422) and _REFUSES_SCHEMA.search(resp.text):
                raise _SchemaRefused(resp.text[:200])
            raise _Fatal(f"judge server refused the request: HTTP {code} {resp.text[:200]}",
                         fix="check --judge-url, --judge-model and the API key")
        try:
            data = resp.json()
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Fatal("judge server answered without choices[0].message.content") from None
        if not isinstance(content, str):
            raise _Fatal("judge server answered with a non-text message content")
        usage = data.get("usage") if isinstance(data, dict) else None
        usage = usage if isinstance(usage, dict) else {}
        with self._lock:
            self.usage.calls += 1
            self.usage.prompt_tokens += int(usage.get("prompt_tokens", 0) or 0)
            self.usage.completion_tokens += int(usage.get("completion_tokens", 0) or 0)
            self.usage.seconds += time.perf_counter() - t0
        return content

    async def _one(self, client: Any, req: JudgeRequest) -> JudgeOutput:
        import tenacity

        start = time.monotonic()  # the call starts here, once it holds a concurrency slot
        deadline = start + self.timeout_s
        if req.budget_s is not None:
            deadline = min(deadline, start + req.budget_s)
        tries = 0

        def past_deadline(state: Any) -> bool:  # a wait that would end past the deadline is not begun
            return time.monotonic() + (state.upcoming_sleep or 0.0) >= deadline

        for _ in range(2):  # a second pass only after the server refused response_format
            retrying = tenacity.AsyncRetrying(
                retry=tenacity.retry_if_exception_type(_Transient), wait=self._wait,
                stop=tenacity.stop_after_attempt(self.max_retries + 1) | past_deadline,
                sleep=self._sleep, reraise=True)
            body = self._body(req)
            try:
                content = ""
                async for attempt in retrying:
                    with attempt:
                        tries += 1
                        content = await self._post(client, body, deadline)
                return JudgeText(content, retries=tries - 1, seconds=time.monotonic() - start)
            except _SchemaRefused:
                with self._lock:
                    self.structured = False  # remembered: later calls go without response_format
                continue
            except _Fatal as exc:
                return JudgeCallError(exc.why, retries=tries - 1, seconds=time.monotonic() - start, where=self.url,
                                      fix=exc.fix)
            except _Transient as exc:
                elapsed = time.monotonic() - start
                why = (f"judge call gave up after {tries} tr{'y' if tries == 1 else 'ies'} in {elapsed:.1f}s "
                       f"({exc.why})")
                if time.monotonic() + (exc.retry_after or 0.0) >= deadline and tries <= self.max_retries:
                    why += f"; the next try would end past its deadline ({deadline - start:.1f}s)"
                return JudgeCallError(why, retries=tries - 1, seconds=elapsed, where=self.url,
                                      fix="check that the server is up, or raise --judge-timeout")
        return JudgeCallError("judge server refused response_format twice", retries=tries - 1, where=self.url)

    async def _generate(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]:
        import anyio
        import httpx

        out: list[JudgeOutput] = [JudgeCallError("not run")] * len(requests)
        limiter = anyio.CapacityLimiter(self.max_concurrency)

        async def run(i: int, client: Any) -> None:
            async with limiter:
                out[i] = await self._one(client, requests[i])

        limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
        # one client per batch: its connection pool belongs to this event loop
        async with (httpx.AsyncClient(headers=self._headers, transport=self.transport, limits=limits) as client,
                    anyio.create_task_group() as tg):
            for i in range(len(requests)):
                tg.start_soon(run, i, client)
        with self._lock:
            self.usage.retries += sum(getattr(o, "retries", 0) for o in out)
        return out

    def generate(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]:
        if not requests:
            return []
        return list(_run_sync(self._generate, requests))

    def close(self) -> None:
        """Nothing held between calls (each batch opens and closes its own connection pool)."""


# --- cache ----------------------------------------------------------------------------------------


class JudgeCache:
    """SQLite cache of clean judge outputs keyed by (bundle hash, backend, judge identity, attempt
    hash, sample). The identity (`judge_identity`) is the model plus whatever changes its answers
    (structured output on/off, decoding mode); the bundle hash covers the prompt template.

    Only clean outputs are stored (the grader's call: schema-valid, every quote verified), so a re-run
    retries what failed and reuses what worked, and a judge fixed since is not shadowed by its past.
    Thread-safe (one connection behind a lock) because the HTTP backend answers from a thread pool."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a crash can lose the last few cached outputs, never corrupt the file; a lost
            # entry only costs a judge call again
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS judge_cache (bundle_hash TEXT, backend TEXT, model TEXT,"
                " attempt_hash TEXT, sample INTEGER, output TEXT, created REAL,"
                " PRIMARY KEY (bundle_hash, backend, model, attempt_hash, sample))")
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, str, str, str, int]) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT output FROM judge_cache WHERE bundle_hash=? AND backend=? AND model=?"
                " AND attempt_hash=? AND sample=?", key).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return str(row[0])

    def put(self, key: tuple[str, str, str, str, int], output: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO judge_cache VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (*key, output, time.time()))

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()


def make_judge(kind: str, *, url: str | None = None, model: str | None = None, api_key: str | None = None,
               max_concurrency: int = 8, timeout_s: float = 60.0, max_retries: int = 4,
               decoding: str = "constrained") -> JudgeBackend:
    """A backend by CLI name: "local" (bundled model; `decoding` free | constrained | probability),
    "openai" (needs url and model; `timeout_s` is each call's wall-clock deadline), "full-marks" (the
    scripted always-full-marks judge, for the attack suite's worst case)."""
    if kind == "local":
        from mentor.grade.local_judge import TransformersJudge

        return TransformersJudge.bundled(decoding=decoding)
    if kind == "openai":
        if not url or not model:
            raise JudgeError("the openai judge needs a server URL and a model name",
                             fix="pass --judge-url http://HOST:PORT/v1 --judge-model NAME")
        return OpenAICompatibleJudge(url, model, api_key=api_key, max_concurrency=max_concurrency,
                                     timeout_s=timeout_s, max_retries=max_retries)
    if kind == "full-marks":
        return ScriptedJudge.always_full_marks()
    raise JudgeError(f"unknown judge '{kind}'", fix="use one of: local, openai, full-marks")
