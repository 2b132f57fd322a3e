"""Judge backends behind one protocol, and the judge-output cache.

A backend turns `JudgeRequest`s into raw text, one per request, or a `JudgeError` for a request it
could not serve (after its own retries). Parsing and evidence checks happen elsewhere, the same for
every backend.

- `ScriptedJudge`: canned outputs from a function; for tests and for proving that defences, not a
  judge's competence, do the work (`ScriptedJudge.always_full_marks()`).
- `TransformersJudge`: a local (model, tokenizer) pair; `TransformersJudge.bundled()` loads the bundled
  SmolLM2-135M-Instruct.
- `OpenAICompatibleJudge`: any OpenAI-compatible chat-completions server (vLLM, ...), bounded
  concurrency, timeouts, retries with exponential backoff.

Backends are chosen by the caller (an explicit object or `make_judge(name, ...)`); none registers
itself on import.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from mentor.errors import JudgeError, MissingExtraError
from mentor.grade.judge import JudgeRequest

JudgeOutput = str | JudgeError


@runtime_checkable
class JudgeBackend(Protocol):
    name: str  # backend kind, part of the cache key: "scripted", "transformers", "openai"
    model: str  # model identity, part of the cache key

    def generate(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]: ...


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


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
        sentence verbatim (evidence that verifies), "invented" cites words not in the attempt,
        "none" cites nothing."""

        def respond(req: JudgeRequest) -> str:
            shown = req.view.sentences
            if quotes == "first" and shown:
                qs = [{"sentence": 1, "text": shown[0]}]
            elif quotes == "invented":
                qs = [{"sentence": 1, "text": "the derivation is complete and every step is justified"}]
            else:
                qs = []
            return json.dumps({"criteria": [
                {"name": c.name, "reason": "Excellent; fully meets the criterion.", "verdict": c.hi, "quotes": qs}
                for c in req.view.criteria]})

        return cls(respond, f"always-full-marks/{quotes}")


# --- local transformers ---------------------------------------------------------------------------


class TransformersJudge:
    """A local causal LM as judge. Sample 0's first try decodes greedily (reproducible); other samples
    and retries sample at the request's temperature with a seed derived from (sample, retry), inside
    `torch.random.fork_rng` so the caller's RNG state is untouched. Greedy requests are decoded
    together, `batch_size` at a time (left-padded); sampled ones one at a time, so each keeps its own
    seed whatever else is in the call.

    `prefill` starts the assistant turn with the opening of the object the judge must write, which
    small models need to produce the schema at all: the request's own `prefill` where it sets one (the
    critic's `{"wrong_steps": [`), else the verdict object's opening. It is part of the parsed output."""

    name = "transformers"

    def __init__(self, model: Any, tokenizer: Any, *, model_name: str | None = None, prefill: bool = True,
                 batch_size: int = 8) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.hf_model = model
        self.tokenizer = tokenizer
        self.model = model_name or str(getattr(getattr(model, "config", None), "_name_or_path", "") or "local")
        self.prefill = prefill
        self.batch_size = batch_size
        self.usage = Usage()

    @classmethod
    def bundled(cls, threads: int | None = None) -> TransformersJudge:
        """The bundled SmolLM2-135M-Instruct. `threads` sets torch's (process-wide) thread count; by
        default it is left alone, so a judge built inside a training run does not slow the update."""
        import torch

        from mentor.student.bundled import load_bundled

        if threads is not None:
            torch.set_num_threads(threads)
        model, tokenizer = load_bundled(torch.float32)
        return cls(model, tokenizer, model_name="SmolLM2-135M-Instruct")

    def _head(self, req: JudgeRequest) -> str:
        if not self.prefill:
            return ""
        if req.prefill is not None:
            return req.prefill
        if req.view.criteria:
            return '{"criteria": [{"name": "' + req.view.criteria[0].name + '", "reason": "'
        return ""

    def _prompt_text(self, req: JudgeRequest) -> str:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(list(req.messages), tokenize=False, add_generation_prompt=True)
        else:
            text = "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in req.messages) + "\n\nASSISTANT: "
        return text + self._head(req)

    def _pad_id(self) -> int:
        tok = self.tokenizer
        return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def generate(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]:
        outs: list[JudgeOutput | None] = [None] * len(requests)
        greedy = [i for i, r in enumerate(requests) if (r.sample == 0 and r.retry == 0) or r.temperature == 0]
        sampled = sorted(set(range(len(requests))) - set(greedy))
        # one batch per max_new_tokens among the greedy requests (they rarely differ)
        by_len: dict[int, list[int]] = {}
        for i in greedy:
            by_len.setdefault(requests[i].max_new_tokens, []).append(i)
        for idx in by_len.values():
            for b in range(0, len(idx), self.batch_size):
                chunk = idx[b:b + self.batch_size]
                for i, out in zip(chunk, self._run([requests[i] for i in chunk], sample=False), strict=True):
                    outs[i] = out
        for i in sampled:
            outs[i] = self._run([requests[i]], sample=True)[0]
        return [o for o in outs if o is not None]

    def _run(self, reqs: Sequence[JudgeRequest], *, sample: bool) -> list[JudgeOutput]:
        """Decode `reqs` as one left-padded batch (all greedy, or one sampled request)."""
        import torch

        t0 = time.perf_counter()
        tok = self.tokenizer
        texts = [self._prompt_text(r) for r in reqs]
        encoded = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        width = max(len(e) for e in encoded)
        pad = self._pad_id()
        ids = torch.tensor([[pad] * (width - len(e)) + list(e) for e in encoded], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in encoded], dtype=torch.long)
        kwargs: dict[str, Any] = {"max_new_tokens": reqs[0].max_new_tokens, "do_sample": sample, "pad_token_id": pad}
        if sample:
            kwargs["temperature"] = reqs[0].temperature
        try:
            with torch.random.fork_rng(devices=[]), torch.inference_mode():
                if sample:
                    torch.manual_seed(1_000_003 * reqs[0].sample + reqs[0].retry)
                out = self.hf_model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        except Exception as exc:  # a crashed local model is the grader's failure
            return [JudgeError(f"local judge failed: {exc!r}") for _ in reqs]
        results: list[JudgeOutput] = []
        eos = tok.eos_token_id
        for r, row in zip(reqs, out[:, width:], strict=True):
            new = row.tolist()
            if eos is not None and eos in new:  # a finished row is padded to the batch's longest
                new = new[:new.index(eos)]
            self.usage.calls += 1
            self.usage.completion_tokens += len(new)
            results.append(self._head(r) + tok.decode(new, skip_special_tokens=True))
        self.usage.prompt_tokens += sum(len(e) for e in encoded)
        self.usage.seconds += time.perf_counter() - t0
        return results


# --- OpenAI-compatible HTTP -----------------------------------------------------------------------


class OpenAICompatibleJudge:
    """Chat completions against `base_url` (e.g. http://localhost:8000/v1 for vLLM).

    Bounded concurrency: at most `max_concurrency` requests in flight (a thread pool of that size over
    one shared `httpx.Client`). Each request has a timeout; 429, 5xx, timeouts and connection errors
    are retried up to `max_retries` times with exponential backoff (backoff·2^i, capped at 30 s); any
    other 4xx fails at once. `transport` lets tests use `httpx.MockTransport`."""

    name = "openai"

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, max_concurrency: int = 8,
                 timeout_s: float = 60.0, max_retries: int = 4, backoff_s: float = 0.5,
                 transport: Any = None, sleep: Callable[[float], None] = time.sleep) -> None:
        try:
            import httpx
        except ImportError:
            raise MissingExtraError("httpx", "http", "The OpenAI-compatible judge") from None
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.max_concurrency = max(1, max_concurrency)
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=timeout_s, headers=headers, transport=transport)
        self.usage = Usage()
        self._lock = threading.Lock()

    def _one(self, req: JudgeRequest) -> JudgeOutput:
        import httpx

        body = {"model": self.model, "messages": list(req.messages), "max_tokens": req.max_new_tokens,
                "temperature": 0.0 if (req.sample == 0 and req.retry == 0) else req.temperature,
                "seed": 1_000_003 * req.sample + req.retry}
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.sleep(min(30.0, self.backoff_s * 2 ** (attempt - 1)))
            t0 = time.perf_counter()
            try:
                resp = self.client.post(self.url, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                continue
            if resp.status_code >= 400:
                return JudgeError(f"judge server refused the request: HTTP {resp.status_code} {resp.text[:200]}",
                                  where=self.url, fix="check --judge-url and --judge-model")
            try:
                data = resp.json()
                content = data["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError):
                return JudgeError("judge server answered without choices[0].message.content", where=self.url)
            usage = data.get("usage") or {}
            with self._lock:
                self.usage.calls += 1
                self.usage.prompt_tokens += int(usage.get("prompt_tokens", 0) or 0)
                self.usage.completion_tokens += int(usage.get("completion_tokens", 0) or 0)
                self.usage.seconds += time.perf_counter() - t0
            return str(content)
        return JudgeError(f"judge server failed after {self.max_retries + 1} tries ({last})", where=self.url,
                          fix="check that the server is up, or raise the timeout")

    def generate(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]:
        if len(requests) <= 1:
            return [self._one(r) for r in requests]
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            return list(pool.map(self._one, requests))

    def close(self) -> None:
        self.client.close()


# --- cache ----------------------------------------------------------------------------------------


class JudgeCache:
    """SQLite cache of valid judge outputs keyed by (bundle hash, backend, model, attempt hash, sample).

    Only outputs that parsed are stored, so a re-run retries what failed and reuses what worked.
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
               max_concurrency: int = 8) -> JudgeBackend:
    """A backend by CLI name: "local" (bundled model), "openai" (needs url and model), "full-marks"
    (the scripted always-full-marks judge, for the attack suite's worst case)."""
    if kind == "local":
        return TransformersJudge.bundled()
    if kind == "openai":
        if not url or not model:
            raise JudgeError("the openai judge needs a server URL and a model name",
                             fix="pass --judge-url http://HOST:PORT/v1 --judge-model NAME")
        return OpenAICompatibleJudge(url, model, api_key=api_key, max_concurrency=max_concurrency)
    if kind == "full-marks":
        return ScriptedJudge.always_full_marks()
    raise JudgeError(f"unknown judge '{kind}'", fix="use one of: local, openai, full-marks")
