"""The WARP state machine: one stateless LLM call per step, edits applied between steps.

`Engine.run()` loops until the run is done, stopped or failed. Each step builds a prompt for
the current phase, checks it against the model's context, samples under the phase's grammar,
parses and validates the reply into an action and applies it. A failed parse costs a step and
keeps the phase. Every step (failed ones too) and every applied edit is committed to the run
journal, so a killed process resumes from its last commit; a stopped step is not committed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol, assert_never

from desktop.core import prompts, protocol, verify
from desktop.core.actions import (
    Action,
    ActionError,
    ExtendPlan,
    InitPlan,
    Nop,
    Search,
    Write,
)
from desktop.core.cancel import Cancelled, CancelToken
from desktop.core.chat import BackendError, ChatBackend, ChatRequest, ChatResult
from desktop.core.commands import (
    Command,
    CommandQueue,
    Rejected,
    apply_command,
)
from desktop.core.eta import TimeEstimator
from desktop.core.events import (
    CitationsDropped,
    CommandApplied,
    CommandRejected,
    EventSink,
    NullSink,
    OutlineChanged,
    RunFailed,
    RunFinished,
    RunPaused,
    RunStarted,
    RunStopped,
    SearchPerformed,
    SectionChecked,
    SectionWritten,
    StepCompleted,
    StepFailed,
    StepMetrics,
    StepStarted,
    TimeEstimated,
    TokensStreamed,
)
from desktop.core.evidence import Retriever, retrieve_merged
from desktop.core.outline import Outline
from desktop.core.phases import after, settle
from desktop.core.state import RunConfig, RunState, RunStatus
from desktop.core.usage import metrics_detail

log = logging.getLogger(__name__)

TEMPLATE_OVERHEAD_TOKENS = 32
MIN_ANSWER_TOKENS = 64


class PromptTooLong(Exception):
    """Even the most abbreviated prompt does not fit the model's context."""


class StorageError(Exception):
    """The run's journal could not be written (a full disk, a read-only folder): one line."""


class Journal(Protocol):
    """What the engine needs from the run journal (desktop.store.journal.RunJournal)."""

    def commit(self, state: RunState, kind: str, detail: dict) -> None: ...
    def cached_reply(self, key: str) -> ChatResult | None: ...
    def store_reply(self, key: str, result: ChatResult) -> None: ...
    def record_command(self, command: Command, status: str, message: str) -> None: ...
    def set_status(self, status: RunStatus, error: str | None = None) -> None: ...
    def record_check(self, check: verify.SectionCheck, text: str) -> None: ...


class Engine:
    """Runs WARP for one run. Owned by one thread; other threads only queue commands,
    set the cancel token or toggle pause."""

    def __init__(
        self,
        *,
        run_id: str,
        state: RunState,
        config: RunConfig,
        backend: ChatBackend,
        retriever: Retriever,
        sink: EventSink | None = None,
        journal: Journal | None = None,
        commands: CommandQueue | None = None,
        cancel: CancelToken | None = None,
        verifier: verify.SectionVerifier | None = None,
    ) -> None:
        self.run_id = run_id
        self.state = state
        self.config = config
        self.backend = backend
        self.retriever = retriever
        self.sink = sink or NullSink()
        self.journal = journal
        self.commands = commands or CommandQueue()
        self.cancel = cancel or CancelToken()
        self._resume_event = threading.Event()
        self._resume_event.set()
        self.status: RunStatus = "created"
        self.verifier = self._verifier(verifier)
        self.estimator = TimeEstimator(config)
        self._started = time.perf_counter()

    def _verifier(self, given: verify.SectionVerifier | None) -> verify.SectionVerifier | None:
        """The citation check (words and numbers by default); the model judge when configured."""
        if not self.config.check_claims:
            return None
        checker = given if given is not None else verify.SectionVerifier()
        if self.config.judge_claims and checker.judge is None:
            checker.judge = verify.model_judge(self.backend, cancel=self.cancel)
            spent = getattr(self.journal, "judge_calls", lambda: 0)()
            checker.budget = verify.JudgeBudget(max(0, self.config.judge_budget - spent))
        return checker

    # ---- control from other threads -------------------------------------------------------
    def pause(self) -> None:
        self._resume_event.clear()

    def resume(self) -> None:
        self._resume_event.set()

    def stop(self) -> None:
        self.cancel.set()
        self._resume_event.set()

    @property
    def paused(self) -> bool:
        return not self._resume_event.is_set()

    # ---- the loop ---------------------------------------------------------------------------
    def run(self) -> RunState:
        """Step until done, stopped or failed; returns the last committed state."""
        self._started = time.perf_counter()
        self.sink.emit(
            RunStarted(
                self.run_id, self.state.question, self.state.language, resumed=self.state.step > 0
            )
        )
        self._set_status("running")
        try:
            while True:
                self._apply_commands()
                self._wait_while_paused()
                self.cancel.raise_if_set()
                if self._finish_if_due():
                    return self.state
                self.step()
        except Cancelled:
            self._set_status("stopped")
            self.sink.emit(RunStopped(self.state.step, "stopped by user"))
        except StorageError as exc:
            self._set_status_quietly("failed", str(exc))
            self.sink.emit(RunFailed(self.state.step, str(exc)))
        except (BackendError, PromptTooLong) as exc:
            self._set_status("failed", str(exc))
            self.sink.emit(RunFailed(self.state.step, str(exc)))
        except Exception as exc:  # a bug must end the run resumably, never loop on a traceback
            log.exception("step %d failed unexpectedly", self.state.step + 1)
            message = (
                f"internal error in step {self.state.step + 1} ({self.state.phase}): "
                f"{type(exc).__name__}: {' '.join(str(exc).split())}; the run can be resumed"
            )
            self._set_status("failed", message)
            self.sink.emit(RunFailed(self.state.step, message))
        return self.state

    def _finish_if_due(self) -> bool:
        due = settle(self.state, self.config)  # max_step, max_extend, nothing left to expand
        if due.done and not self.state.done:
            self._commit(due, "finish", {})
        if not self.state.done:
            return False
        self._set_status("finished")
        self.sink.emit(
            RunFinished(
                self.state.step,
                self.state.stop_reason or "",
                self.state.outline,
                time.perf_counter() - self._started,
            )
        )
        return True

    def _wait_while_paused(self) -> None:
        if self._resume_event.is_set():
            return
        self._set_status("paused")
        self.sink.emit(RunPaused(self.state.step))
        while not self._resume_event.wait(0.1):
            self._apply_commands()
        self.cancel.raise_if_set()
        self._set_status("running")

    def _apply_commands(self) -> None:
        for command in self.commands.drain():
            try:
                state, message = apply_command(self.state, command)
            except Rejected as exc:
                self.sink.emit(CommandRejected(command, str(exc)))
                if self.journal:
                    self.journal.record_command(command, "rejected", str(exc))
                continue
            self._commit(state, "edit", {"command": type(command).__name__})
            if self.journal:
                self.journal.record_command(command, "applied", message)
            self.sink.emit(CommandApplied(command, state.outline, message))
            if state.outline is not None:
                self.sink.emit(OutlineChanged(state.outline, "edit"))

    # ---- one step -----------------------------------------------------------------------------
    def step(self) -> None:
        """Run the current phase once: one model call (warp.md, "The loop").

        Settle the phase the cursor and budgets make due; build that phase's call from the
        protocol table; ask the model; parse the reply into an action; apply it; settle where
        the action leads (`desktop.core.phases.after`); check a written section; commit.
        """
        # The cursor rule and the budgets (steps or extensions spent, nothing left to expand).
        due = settle(self.state, self.config)
        if due.done:
            if not self.state.done:
                self._commit(due, "finish", {})
            return
        self.state = due
        phase = self.state.phase
        node = self.state.outline.cursor() if self.state.outline else None
        self.sink.emit(
            StepStarted(
                self.state.step + 1,
                phase,
                self.state.cursor_label,
                node.section.id if node else None,
            )
        )
        started = time.perf_counter()
        call = protocol.call_for(self.state, self.config)
        result, cached = self._call(call)
        try:
            action = call.parse(result.text, cut_off=result.finish_reason == "length")
        except ActionError as exc:
            self._fail(phase, str(exc), self._metrics(result, started, cached))
            return
        applied, detail = self._apply(action)
        goes = after(action, applied, self.config)
        next_state = applied.evolve(
            phase=goes.phase, stop_reason=goes.stop_reason, step=self.state.step + 1
        )
        if isinstance(action, Write):
            next_state, detail = self._check_written(next_state, detail)
        metrics = self._metrics(result, started, cached)
        self._commit(next_state, "step", {"phase": phase, **detail, **_figures(metrics)})
        self.sink.emit(StepCompleted(next_state.step, phase, next_state.phase, metrics))
        self.estimator.observe(
            phase, metrics, next_phase=next_state.phase, subsections=detail.get("subsections")
        )
        self._emit_estimate()

    def _emit_estimate(self) -> None:
        """The time to finish from here (desktop.core.eta), after every step."""
        s = self.state
        estimate = self.estimator.estimate(s.outline, s.phase, s.step, s.extend_count)
        if estimate is not None and not s.done:
            elapsed = time.perf_counter() - self._started
            self.sink.emit(
                TimeEstimated(s.step, estimate.seconds, estimate.low, estimate.high, elapsed)
            )

    # ---- the model call -------------------------------------------------------------------------
    def _fit_prompt(self, call: protocol.Call) -> tuple[str, int]:
        """Abbreviate until prompt + answer fit the context; never let llama.cpp truncate."""
        context = self.backend.context_length
        abbreviation = prompts.Abbreviation()
        caps: list[int | None] = [None, 1200, 600, 300]
        while True:
            for cap in caps:
                prompt = call.build(abbreviation, cap)
                used = self.backend.count_tokens(prompt) + TEMPLATE_OVERHEAD_TOKENS
                room = context - used
                if room >= min(call.max_tokens, max(MIN_ANSWER_TOKENS, context // 8)):
                    return prompt, min(call.max_tokens, room)
            tighter = abbreviation.tighter()
            if tighter is None:
                raise PromptTooLong(
                    f"the prompt needs {used} tokens but the model's context holds {context}; "
                    "choose a larger context size"
                )
            abbreviation = tighter

    def _call(self, call: protocol.Call) -> tuple[ChatResult, bool]:
        phase = call.phase
        prompt, max_tokens = self._fit_prompt(call)
        result, cached = self._ask(call, prompt, max_tokens)
        if phase != "write" and result.finish_reason == "length":
            # A JSON action cut off mid-way cannot parse: retry once with twice the budget.
            room = self.backend.context_length - self.backend.count_tokens(prompt)
            longer = min(2 * max_tokens, room - TEMPLATE_OVERHEAD_TOKENS)
            if longer > max_tokens:
                log.info(
                    "step %d: %s cut off at %d tokens; retrying with %d",
                    self.state.step + 1,
                    phase,
                    max_tokens,
                    longer,
                )
                result, cached = self._ask(call, prompt, longer)
        return result, cached

    def _ask(self, call: protocol.Call, prompt: str, max_tokens: int) -> tuple[ChatResult, bool]:
        phase = call.phase
        grammar = call.grammar if self.backend.supports_grammar else None
        schema = (
            call.json_schema
            if grammar is None and call.json_schema and self.backend.supports_json_schema
            else None
        )
        request = ChatRequest.user(
            prompt,
            max_tokens=max_tokens,
            temperature=self.config.temperature,
            top_p=self.config.top_p,
            repeat_penalty=self.config.repeat_penalty,
            seed=self.config.seed * 100_003 + self.state.step,
            grammar=grammar,
            json_schema=schema,
            purpose=phase,
        )
        key = request.cache_key(self.backend.model_id)
        if self.journal is not None:
            cached = self.journal.cached_reply(key)
            if cached is not None:
                log.info("step %d: reply taken from the run's LLM cache", self.state.step + 1)
                return cached, True
        step = self.state.step + 1
        result = self.backend.chat(
            request,
            on_delta=lambda text: self.sink.emit(TokensStreamed(step, phase, text)),
            cancel=self.cancel,
        )
        if result.finish_reason == "cancelled":
            raise Cancelled()
        if self.journal is not None:
            self.journal.store_reply(key, result)
        return result, False

    # ---- applying actions ------------------------------------------------------------------------
    def _apply(self, action: Action) -> tuple[RunState, dict]:
        """`action`'s effect on the state (its phase is `phases.after`'s to decide)."""
        s = self.state
        match action:
            case Search(keywords):
                return self._search(keywords)
            case InitPlan(title, sections):
                outline = Outline.initial(title, sections)
                self.sink.emit(OutlineChanged(outline, "init-plan"))
                return s.evolve(outline=outline), {"sections": len(sections)}
            case Write(text, trimmed, dropped):
                state, detail = self._write(text, trimmed)
                if dropped:
                    self.sink.emit(CitationsDropped(s.step + 1, detail["position"], dropped))
                    detail["dropped"] = list(dropped)
                return state, detail
            case ExtendPlan(position, subsections):
                node = s.planned.node_at(position)
                outline = s.planned.expanded(node.section.id, subsections)
                self.sink.emit(OutlineChanged(outline, "extend-plan"))
                state = s.evolve(
                    outline=outline, extend_count=s.extend_count + 1, deepen_target=None
                )
                return state, {"position": position, "subsections": len(subsections)}
            case Nop():
                return s, {"nop": True}
            case _:
                assert_never(action)

    def _search(self, keywords: tuple[str, ...]) -> tuple[RunState, dict]:
        s = self.state
        first = s.outline is None
        budget = self.config.first_budget if first else self.config.later_budget
        passages = retrieve_merged(
            self.retriever,
            keywords,
            budget,
            self.config.per_keyword,
            checkpoint=self.cancel.raise_if_set,
        )
        before = len(s.registry)
        registry, keys = s.registry.with_passages(passages)
        cursor = s.outline.cursor() if s.outline else None
        pack_for = "outline" if first else (cursor.section.id if cursor else None)
        self.sink.emit(
            SearchPerformed(s.step + 1, keywords, len(keys), len(registry) - before, tuple(keys))
        )
        state = s.evolve(registry=registry, pack=tuple(keys), pack_for=pack_for)
        return state, {"keywords": list(keywords), "passages": len(keys)}

    def _write(self, text: str, trimmed: bool) -> tuple[RunState, dict]:
        s = self.state
        node = s.planned.current()
        outline = s.planned.with_content(node.section.id, text)
        self.sink.emit(SectionWritten(node.section.id, node.position, text, trimmed, outline))
        self.sink.emit(OutlineChanged(outline, "write"))
        return s.evolve(outline=outline, revise=None), {
            "position": node.position,
            "chars": len(text),
            "trimmed": trimmed,
        }

    def _check_written(self, state: RunState, detail: dict) -> tuple[RunState, dict]:
        """Check the section just written (no LLM step unless the judge is on), journal and
        announce the check, and with `revise_unsupported` clear a flagged section once so the
        next step rewrites it, its flagged sentences named in the instruction."""
        verifier = self.verifier
        node = self.state.planned.cursor() if verifier is not None else None
        if verifier is None or node is None:
            return state, detail
        section_id = node.section.id
        text = state.planned.get(section_id).content or ""
        check = verifier.check_section(
            text,
            state.registry.by_key,
            section_id=section_id,
            position=node.position,
            step=state.step,
        )
        revising = (
            self.config.revise_unsupported
            and bool(check.flagged)
            and section_id not in state.revised
        )
        if self.journal is not None:
            self.journal.record_check(check, text)
        self.sink.emit(SectionChecked(section_id, node.position, check, revising))
        detail = {**detail, "claims": len(check.claims), "flagged": len(check.flagged)}
        if not revising:
            return state, detail
        outline = state.planned.with_content(section_id, None)
        state = state.evolve(
            outline=outline,
            phase="write",
            stop_reason=None,
            revise=verify.revision_request(check),
            revised=(*state.revised, section_id),
        )
        self.sink.emit(OutlineChanged(outline, "revise"))
        return state, {**detail, "revise": True}

    def _fail(self, phase: str, reason: str, metrics: StepMetrics) -> None:
        s = self.state
        state = s.evolve(step=s.step + 1)
        if phase == "extend_plan":
            state = state.evolve(extend_count=s.extend_count + 1)
        log.info("step %d (%s) failed: %s", state.step, phase, reason)
        self._commit(state, "failed", {"phase": phase, "reason": reason, **_figures(metrics)})
        self.sink.emit(StepFailed(state.step, phase, reason, metrics))
        self.estimator.observe(phase, metrics, failed=True)
        self._emit_estimate()

    # ---- bookkeeping -----------------------------------------------------------------------------
    def _commit(self, state: RunState, kind: str, detail: dict) -> None:
        if self.journal is not None:
            self.journal.commit(state, kind, detail)
        self.state = state

    def _set_status_quietly(self, status: RunStatus, error: str | None = None) -> None:
        """Record a status when the journal itself may be what failed."""
        try:
            self._set_status(status, error)
        except StorageError:
            self.status = status

    def _set_status(self, status: RunStatus, error: str | None = None) -> None:
        self.status = status
        if self.journal is not None:
            self.journal.set_status(status, error)

    def _metrics(self, result: ChatResult, started: float, cached: bool) -> StepMetrics:
        return StepMetrics(
            prompt_tokens=result.prompt_tokens,
            prefilled_tokens=result.prefilled_tokens,
            completion_tokens=result.completion_tokens,
            seconds=time.perf_counter() - started,
            first_token_seconds=result.first_token_seconds,
            tokens_per_second=result.tokens_per_second,
            model_seconds=result.model_seconds,
            cached=cached,
            drafted_tokens=result.drafted_tokens,
            accepted_tokens=result.accepted_tokens,
        )


def _figures(metrics: StepMetrics) -> dict:
    """A step's figures for its journal detail (desktop.core.usage reads them back)."""
    return {"metrics": metrics_detail(metrics)}
