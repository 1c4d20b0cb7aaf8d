"""An LLM brain: any OpenAI-compatible chat-completions endpoint, streamed sentence by sentence, with a fallback.

One turn (:meth:`LlmBrain.stream`):

1. The circuit breaker decides whether the endpoint is tried at all (after ``breaker_failures`` failed turns in a
   row it is left alone for ``breaker_open_s``; then one trial turn goes through).
2. The request streams (``stream=True``); token deltas go through :class:`~streamer.brain.sentences.SentenceSplitter`
   and each sentence is yielded the moment it is complete, so the voice starts on the first one while the model is
   still writing the rest.
3. Deadlines: a complete first sentence within ``first_sentence_timeout_s`` of the turn's start (retry included),
   and at most ``total_timeout_s`` spent waiting on the endpoint in the turn (time the consumer holds a sentence,
   e.g. while the voice catches up, does not count).
4. Failures (timeout, connection error, HTTP error, malformed or empty output):

   - nothing yielded yet: one retry if time is left before the first-sentence deadline, else the fallback brain
     speaks this turn (its sentences come out of this same iterator);
   - something already yielded: the turn just ends (a half-spoken answer is never restarted nor retried).

Interruptions: when the consumer stops iterating (``aclose()``) or its task is cancelled, the HTTP stream is closed
before control returns, and ``CancelledError`` propagates. Nothing here holds secrets in messages or metrics: the API
key is read once from the environment variable the settings name and handed to the client only.

What the model writes is *not* checked here: the guards (:mod:`streamer.brain.guards`) check every sentence from
every brain before it is spoken.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import time
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import openai

from streamer.brain.base import Brain, BrainRequest
from streamer.brain.guards import GuardVerdict
from streamer.brain.prompts import build_messages
from streamer.brain.sentences import SentenceSplitter
from streamer.config import LlmSettings

log = logging.getLogger(__name__)

Clock = Callable[[], float]
BreakerState = Literal["closed", "open", "half_open"]
FailureReason = Literal[
    "breaker_open",
    "first_sentence_timeout",
    "total_timeout",
    "connection",
    "http_error",
    "malformed",
    "empty",
    "prompt_error",
    "guarded",
    "rate_limited",
]

MIN_RETRY_S = 0.2
"""A retry needs at least this much time left before the first-sentence deadline to be worth starting."""

_T = TypeVar("_T")


class LlmConfigError(ValueError):
    """The LLM brain cannot be built from these settings (e.g. the API key's environment variable is not set)."""


class _AttemptFailed(Exception):
    def __init__(self, reason: FailureReason, detail: str, *, retryable: bool = True) -> None:
        super().__init__(detail)
        self.reason: FailureReason = reason
        self.detail = detail
        self.retryable = retryable


# ---- circuit breaker (pure) ---------------------------------------------------------------------------------


class CircuitBreaker:
    """Closed -> (``failures`` failed turns in a row) -> open for ``open_s`` -> half-open: one trial turn at a time;
    its success closes the breaker, its failure opens it again. A trial abandoned without a verdict (the turn was
    interrupted) frees the slot for the next turn."""

    __slots__ = ("_clock", "_consecutive", "_opened_at", "_trial_out", "failures", "open_s", "opens")

    def __init__(self, *, failures: int, open_s: float, clock: Clock) -> None:
        self.failures = failures
        self.open_s = open_s
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_out = False
        self.opens = 0
        """How many times the breaker has opened (a metric)."""

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at < self.open_s:
            return "open"
        return "half_open"

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    def allow(self) -> bool:
        """Whether this turn may use the endpoint. In half-open, True once (the trial) until its verdict."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._trial_out:
            return False
        self._trial_out = True
        return True

    def record_success(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._trial_out = False

    def record_failure(self) -> None:
        self._consecutive += 1
        if self._trial_out or self._consecutive >= self.failures:
            if self._opened_at is None or self._trial_out:
                self.opens += 1
            self._opened_at = self._clock()
        self._trial_out = False

    def release(self) -> None:
        """The turn ended without a verdict (interrupted): neither success nor failure."""
        self._trial_out = False


# ---- metrics ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class LlmStats:
    turns: int = 0
    """Turns asked of this brain (whoever answered them)."""
    llm_turns: int = 0
    """Turns the endpoint answered to the end."""
    requests: int = 0
    """HTTP requests sent (a retry is a second request in the same turn)."""
    retries: int = 0
    interrupted: int = 0
    """Turns the consumer stopped before the end (an interruption)."""
    fallbacks: Counter[str] = field(default_factory=Counter)
    """Turns spoken by the fallback brain, by reason (``breaker_open``, ``first_sentence_timeout``, ...)."""
    cut_short: Counter[str] = field(default_factory=Counter)
    """Turns the endpoint started but did not finish (what was said stays said), by reason."""
    dropped_tails: int = 0
    """Unfinished last sentences dropped because the answer hit ``max_tokens``."""
    fallback_errors: int = 0
    guard_drops: int = 0
    """Sentences the endpoint wrote that the guards would drop (never spoken)."""
    rate_limited: int = 0
    """Turns not sent to the endpoint because ``max_requests_per_min`` were already sent in the last minute."""
    last_error: str | None = None
    """The last failure, in words, without secrets (``"HTTP 500 from 127.0.0.1:8000"``)."""
    last_first_sentence_s: float | None = None
    """Turn start to the first sentence yielded, for the last turn that yielded one."""
    last_source: Literal["llm", "fallback"] | None = None
    """Who spoke the first sentence of the last turn that yielded one."""


@dataclass(slots=True)
class _Turn:
    started: float
    first_deadline: float
    budget_s: float
    waited_s: float = 0.0
    yielded: int = 0
    guard_drops: int = 0
    """Sentences of this turn the guards would drop (left out; they make the turn a failed one)."""


# ---- the brain ----------------------------------------------------------------------------------------------


class LlmBrain:
    """:class:`~streamer.brain.base.Brain` backed by an OpenAI-compatible endpoint, degrading to ``fallback``.

    ``settings.base_url`` is the API root (``http://127.0.0.1:8000/v1``); requests go to
    ``{base_url}/chat/completions``.
    With ``client`` given (a pre-built ``openai.AsyncOpenAI``) the brain uses a copy with retries off and does not
    read the environment; otherwise it reads the key from ``settings.api_key_env`` and owns its client (see
    :meth:`aclose`). ``clock`` is the only source of "now" (deadlines, latency, the breaker).
    """

    name = "llm"

    def __init__(
        self,
        settings: LlmSettings,
        *,
        fallback: Brain,
        clock: Clock = time.monotonic,
        client: openai.AsyncOpenAI | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.fallback = fallback
        self._clock = clock
        self._key: str | None = None
        if client is None:
            self._key = _api_key(settings, os.environ if env is None else env)
            client = openai.AsyncOpenAI(
                # Servers without auth (Ollama, llama.cpp, vLLM) accept any bearer token.
                api_key=self._key or "no-key",
                base_url=settings.base_url,
                max_retries=0,
                timeout=settings.total_timeout_s + settings.first_sentence_timeout_s,
            )
            self._owns_client = True
        else:
            client = client.with_options(max_retries=0)
            self._owns_client = False
        self._client = client
        # The client imports its resource modules on first use; do it now, not inside the first turn's deadline.
        _ = client.chat.completions
        self._endpoint = _endpoint_label(settings.base_url)
        self.breaker = CircuitBreaker(failures=settings.breaker_failures, open_s=settings.breaker_open_s, clock=clock)
        self.stats = LlmStats()
        self._closed = False
        self._sent: collections.deque[float] = collections.deque(maxlen=max(1, settings.max_requests_per_min))
        """When the last ``max_requests_per_min`` requests were sent (the rate limit's window)."""

    def __repr__(self) -> str:
        return f"LlmBrain(model={self.settings.model!r}, endpoint={self._endpoint!r}, breaker={self.breaker_state!r})"

    # ---- metrics ------------------------------------------------------------------------------------------------

    @property
    def breaker_state(self) -> BreakerState:
        return self.breaker.state

    @property
    def turns(self) -> int:
        return self.stats.turns

    @property
    def fallbacks(self) -> dict[str, int]:
        return dict(self.stats.fallbacks)

    @property
    def last_error(self) -> str | None:
        return self.stats.last_error

    @property
    def first_sentence_latency_s(self) -> float | None:
        return self.stats.last_first_sentence_s

    def metrics(self) -> dict[str, Any]:
        """A JSON-ready snapshot for the dashboard and logs (no secrets)."""
        s = self.stats
        return {
            "brain": self.name,
            "model": self.settings.model,
            "endpoint": self._endpoint,
            "breaker_state": self.breaker_state,
            "breaker_opens": self.breaker.opens,
            "consecutive_failures": self.breaker.consecutive_failures,
            "turns": s.turns,
            "llm_turns": s.llm_turns,
            "requests": s.requests,
            "retries": s.retries,
            "interrupted": s.interrupted,
            "fallbacks": dict(s.fallbacks),
            "cut_short": dict(s.cut_short),
            "dropped_tails": s.dropped_tails,
            "fallback_errors": s.fallback_errors,
            "guard_drops": s.guard_drops,
            "rate_limited": s.rate_limited,
            "last_error": s.last_error,
            "first_sentence_latency_s": s.last_first_sentence_s,
            "last_source": s.last_source,
        }

    # ---- lifecycle ----------------------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the HTTP client if this brain made it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.close()

    async def __aenter__(self) -> LlmBrain:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- one turn -----------------------------------------------------------------------------------------------

    async def stream(self, request: BrainRequest) -> AsyncGenerator[str, None]:
        """Sentences for one turn: the endpoint's, or the fallback brain's when the endpoint fails before its first
        sentence. Never raises for endpoint trouble; ``CancelledError`` propagates."""
        s = self.settings
        now = self._clock()
        turn = _Turn(started=now, first_deadline=now + s.first_sentence_timeout_s, budget_s=s.total_timeout_s)
        self.stats.turns += 1
        if not self._within_rate():
            self.stats.rate_limited += 1
            async with contextlib.aclosing(self._fallback(request, turn, "rate_limited")) as sentences:
                async for sentence in sentences:
                    yield sentence
            return
        if not self.breaker.allow():
            async with contextlib.aclosing(self._fallback(request, turn, "breaker_open")) as sentences:
                async for sentence in sentences:
                    yield sentence
            return

        try:
            messages = build_messages(request)
        except Exception:  # a bug in prompt building must not silence the host; the endpoint is not to blame
            log.exception("could not build the LLM prompt; the fallback speaks this turn")
            self.breaker.release()
            async with contextlib.aclosing(self._fallback(request, turn, "prompt_error")) as sentences:
                async for sentence in sentences:
                    yield sentence
            return

        verdict: Literal["success", "failure"] | None = None
        failure: _AttemptFailed | None = None
        try:
            for attempt in (1, 2):
                try:
                    async with contextlib.aclosing(self._attempt(messages, request, turn)) as sentences:
                        async for sentence in sentences:
                            if request.vet is not None and _fails_guards(request.vet(sentence)):
                                # Never spoken, and a sign the endpoint is not to be trusted with this turn.
                                turn.guard_drops += 1
                                self.stats.guard_drops += 1
                                continue
                            self._note_sentence(turn, "llm")
                            yield sentence
                    if turn.yielded == 0:
                        if turn.guard_drops:
                            raise _AttemptFailed(
                                "guarded", f"the guards dropped all {turn.guard_drops} sentence(s)", retryable=False
                            )
                        raise _AttemptFailed("empty", f"no text from {self._endpoint}")
                    self.stats.llm_turns += 1
                    if turn.guard_drops:
                        # What passed was spoken, but a turn the guards had to cut counts against the endpoint:
                        # one that keeps writing invented prices or human claims trips the breaker.
                        verdict = "failure"
                        self.stats.last_error = f"the guards dropped {turn.guard_drops} sentence(s)"
                        return
                    verdict = "success"
                    return
                except _AttemptFailed as exc:
                    failure = exc
                    self.stats.last_error = self._redact(exc.detail)
                    if turn.yielded:
                        verdict = "failure"
                        self.stats.cut_short[exc.reason] += 1
                        log.warning("llm answer cut short after %d sentence(s): %s", turn.yielded, self.last_error)
                        return
                    if attempt == 1 and exc.retryable and turn.first_deadline - self._clock() >= MIN_RETRY_S:
                        self.stats.retries += 1
                        log.info("llm attempt failed (%s); retrying once", exc.reason)
                        continue
                    break
            verdict = "failure"
        finally:
            if verdict == "success":
                self.breaker.record_success()
            elif verdict == "failure":
                self.breaker.record_failure()
            else:
                self.breaker.release()
                self.stats.interrupted += 1
        assert failure is not None
        log.warning("llm turn falls back to %s: %s", getattr(self.fallback, "name", "fallback"), self.last_error)
        async with contextlib.aclosing(self._fallback(request, turn, failure.reason)) as sentences:
            async for sentence in sentences:
                yield sentence

    # ---- internals ----------------------------------------------------------------------------------------------

    def _within_rate(self) -> bool:
        """Whether another request fits in ``max_requests_per_min`` (a sliding minute on the brain's clock)."""
        now = self._clock()
        sent = self._sent
        if len(sent) < (sent.maxlen or 1) or now - sent[0] >= 60.0:
            return True
        return False

    async def _attempt(
        self, messages: list[dict[str, str]], request: BrainRequest, turn: _Turn
    ) -> AsyncGenerator[str, None]:
        """One request, streamed into sentences. Raises :class:`_AttemptFailed`; always closes the HTTP stream."""
        s = self.settings
        splitter = SentenceSplitter(role_names=(request.persona.name,))
        stream: Any = None
        finish: str | None = None
        self.stats.requests += 1
        self._sent.append(self._clock())
        try:
            stream = await self._upstream(
                turn,
                lambda: self._client.chat.completions.create(
                    model=s.model,
                    messages=messages,  # type: ignore[arg-type]
                    stream=True,
                    temperature=s.temperature,
                    max_tokens=s.max_tokens,
                ),
            )
            while True:
                try:
                    chunk = await self._upstream(turn, stream.__anext__)
                except StopAsyncIteration:
                    break
                delta, chunk_finish = _delta(chunk)
                finish = chunk_finish or finish
                for sentence in splitter.feed(delta):
                    yield sentence
            if finish == "length":
                # The model ran out of tokens mid-sentence: a cut-off half sentence is worse than none.
                if splitter.pending.strip():
                    self.stats.dropped_tails += 1
            else:
                for sentence in splitter.flush():
                    yield sentence
        finally:
            if stream is not None:
                await stream.close()

    async def _upstream(self, turn: _Turn, call: Callable[[], Awaitable[_T]]) -> _T:
        """Await the endpoint within the turn's deadlines; errors become :class:`_AttemptFailed`."""
        started = self._clock()
        first_pending = turn.yielded == 0
        left = turn.budget_s - turn.waited_s
        if first_pending:
            left = min(left, turn.first_deadline - started)
        reason: FailureReason = "first_sentence_timeout" if first_pending else "total_timeout"
        if left <= 0:
            raise _AttemptFailed(reason, f"{reason.replace('_', ' ')} waiting for {self._endpoint}", retryable=False)
        try:
            async with asyncio.timeout(left):
                return await call()
        except TimeoutError as exc:
            raise _AttemptFailed(
                reason, f"{reason.replace('_', ' ')} waiting for {self._endpoint}", retryable=False
            ) from exc
        except openai.APITimeoutError as exc:
            raise _AttemptFailed(reason, f"client timeout waiting for {self._endpoint}") from exc
        except openai.APIConnectionError as exc:
            raise _AttemptFailed("connection", f"connection to {self._endpoint} failed: {_cause(exc)}") from exc
        except openai.APIStatusError as exc:
            # 4xx other than timeouts/rate limits will fail the same way again.
            retryable = exc.status_code >= 500 or exc.status_code in (408, 409, 429)
            detail = f"HTTP {exc.status_code} from {self._endpoint}"
            message = _error_message(exc.body)
            if message:
                detail += f": {message}"
            raise _AttemptFailed("http_error", detail, retryable=retryable) from exc
        except openai.APIError as exc:
            raise _AttemptFailed("http_error", f"error event from {self._endpoint}: {exc.message[:120]}") from exc
        except (ValueError, TypeError, KeyError, AttributeError, openai.OpenAIError) as exc:
            # Invalid JSON in an SSE chunk, a body that is not a completion stream.
            raise _AttemptFailed("malformed", f"malformed stream from {self._endpoint}: {type(exc).__name__}") from exc
        finally:
            turn.waited_s += self._clock() - started

    async def _fallback(self, request: BrainRequest, turn: _Turn, reason: FailureReason) -> AsyncGenerator[str, None]:
        self.stats.fallbacks[reason] += 1
        sentences = self.fallback.stream(request)
        try:
            async for sentence in sentences:
                self._note_sentence(turn, "fallback")
                yield sentence
        except Exception:  # a broken fallback must not take the show down; it is counted and logged
            self.stats.fallback_errors += 1
            log.exception("fallback brain %s failed", getattr(self.fallback, "name", "?"))
        finally:
            aclose = getattr(sentences, "aclose", None)
            if aclose is not None:
                await aclose()

    def _note_sentence(self, turn: _Turn, source: Literal["llm", "fallback"]) -> None:
        if turn.yielded == 0:
            self.stats.last_source = source
            self.stats.last_first_sentence_s = self._clock() - turn.started
        turn.yielded += 1

    def _redact(self, text: str) -> str:
        if self._key:
            text = text.replace(self._key, "***")
        return _SECRETISH.sub("***", text)


_SECRETISH = re.compile(r"(?i)\b(?:sk-[A-Za-z0-9_-]{6,}|bearer\s+\S+)")


def _api_key(settings: LlmSettings, env: Mapping[str, str]) -> str | None:
    name = settings.api_key_env
    if name is None:
        return None
    key = env.get(name, "").strip()
    if not key:
        raise LlmConfigError(
            f"brain.llm.api_key_env names the environment variable {name}, but it is not set or empty. "
            f"Export {name} with the API key for {_endpoint_label(settings.base_url)}, or set api_key_env: null "
            "for a local server without keys."
        )
    return key


def _fails_guards(verdict: GuardVerdict) -> bool:
    """A sentence the guards drop, or one claiming to be human (its rewrite, the disclosure, is not what the viewer
    asked for: the fallback answers instead)."""
    return verdict.text is None or any(a.kind == "honesty" for a in verdict.actions)


def _endpoint_label(base_url: str) -> str:
    """``host:port`` only: no path, query or credentials from the URL go into logs or metrics."""
    parts = urlsplit(base_url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def _cause(exc: BaseException) -> str:
    """The innermost cause's type (``RemoteProtocolError``, ``ConnectError``): informative and secret-free."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__name__


def _error_message(body: object) -> str | None:
    """The ``error.message`` of an OpenAI-style error body, shortened (redacted by the caller)."""
    error = body.get("error", body) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message.strip():
        return None
    message = " ".join(message.split())
    return message if len(message) <= 160 else message[:159] + "…"


def _delta(chunk: Any) -> tuple[str, str | None]:
    """The text and finish reason of one streamed chunk. Raises ``ValueError`` for a chunk that is not one."""
    if isinstance(chunk, str | bytes):
        raise ValueError("chunk is not a JSON object")
    choices = getattr(chunk, "choices", None)
    if choices is None:
        raise ValueError("chunk without choices")
    if not choices:
        return "", None  # usage-only chunks
    choice = choices[0]
    delta = getattr(choice, "delta", None)
    content = getattr(delta, "content", None) if delta is not None else None
    if content is not None and not isinstance(content, str):
        raise ValueError("delta content is not text")
    finish = getattr(choice, "finish_reason", None)
    return content or "", finish if isinstance(finish, str) else None


__all__ = ["CircuitBreaker", "LlmBrain", "LlmConfigError", "LlmStats"]
