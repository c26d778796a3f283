"""Wire one research run together (Qt-free): journal, model backend, retriever and engine.

The CLI and the GUI both start, resume and report runs through `ResearchSession`, so
anything the GUI can do to a run a test can do headlessly.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from desktop.core.cancel import CancelToken
from desktop.core.commands import CommandQueue
from desktop.core.engine import Engine
from desktop.core.events import EventSink
from desktop.core.evidence import Retriever
from desktop.core.language import detect_language
from desktop.core.report import Report, build_report
from desktop.core.state import RunConfig, RunState
from desktop.llm.base import BackendError, ChatBackend
from desktop.settings import Settings
from desktop.store.journal import RunJournal

log = logging.getLogger(__name__)

SMALL_MODEL_BYTES = 1_000_000_000  # below this a GGUF gets the small-model guards
# A served model whose name says it has tens or hundreds of millions of parameters (135M, 360m).
SMALL_MODEL_NAME = re.compile(r"(?<![\d.])\d{2,3}(?:\.\d+)?[mM]\b")


class SessionError(Exception):
    """A run cannot start or resume; the message is one clear line for the user."""


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """Which model answers: a local GGUF (None: the embedded one) or a server URL."""

    path: Path | None = None
    server_url: str | None = None
    server_model: str | None = None
    api_key_env: str | None = None

    @staticmethod
    def from_settings(settings: Settings) -> ModelChoice:
        return ModelChoice(
            Path(settings.model_path) if settings.model_path else None,
            settings.server_url,
            settings.server_model,
            settings.api_key_env,
        )


def resolve_model_path(choice: ModelChoice) -> Path:
    if choice.path is not None:
        return choice.path.expanduser().resolve()
    from desktop.llm.models import embedded_model_path

    return embedded_model_path()


def open_backend(choice: ModelChoice, settings: Settings, data_dir: Path) -> ChatBackend:
    """Load the chosen model (slow: run it off the GUI thread)."""
    if choice.server_url:
        from desktop.llm.openai_http import OpenAICompatBackend
        from desktop.secrets import SERVER_API_KEY, get_secret

        key = get_secret(SERVER_API_KEY, data_dir, env_var=choice.api_key_env)
        backend = OpenAICompatBackend(
            choice.server_url,
            model=choice.server_model,
            api_key=key,
            context_length=settings.n_ctx,
        )
        try:
            backend.probe()  # an unreachable server fails here, before any run is created
        except BackendError:
            backend.close()
            raise
        return backend
    from desktop.llm.llamacpp import LlamaCppBackend

    return LlamaCppBackend(
        resolve_model_path(choice),
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        n_gpu_layers=settings.n_gpu_layers,
        flash_attn=settings.flash_attn,
        kv_cache_type=settings.kv_cache_type,
    )


def config_for(
    choice: ModelChoice, settings: Settings, backend: ChatBackend | None = None, **overrides
) -> RunConfig:
    """Budgets from settings; small models also get the citation and script guards.

    A local GGUF is small by its file size; a server's model (when its backend is given) by
    the model id it reports: a local GGUF path (llama-cpp-python's server) or a name like 135M.
    """
    budgets = dict(
        max_step=settings.max_step, max_extend=settings.max_extend, hard_mode=settings.hard_mode
    )
    budgets.update({k: v for k, v in overrides.items() if v is not None})
    if choice.server_url:
        small = backend is not None and _is_small_served_model(backend)
    else:
        small = _is_small_file(lambda: resolve_model_path(choice))
    return RunConfig.for_small_model(**budgets) if small else RunConfig(**budgets)


def _is_small_file(path: Callable[[], Path]) -> bool:
    try:
        return path().stat().st_size < SMALL_MODEL_BYTES
    except (OSError, ValueError, BackendError):
        return False


def _is_small_served_model(backend: ChatBackend) -> bool:
    try:
        model_id = backend.model_id
    except BackendError:
        return False
    if model_id.lower().endswith(".gguf"):
        return _is_small_file(lambda: Path(model_id))
    return SMALL_MODEL_NAME.search(model_id) is not None


class ResearchSession:
    """One run: its journal, engine and the controls other threads may use."""

    def __init__(self, journal: RunJournal, engine: Engine, model_name: str) -> None:
        self.journal = journal
        self.engine = engine
        self.model_name = model_name

    @property
    def run_id(self) -> str:
        return self.engine.run_id

    @property
    def commands(self) -> CommandQueue:
        return self.engine.commands

    @classmethod
    def start(
        cls,
        data_dir: Path,
        question: str,
        *,
        sources: Sequence[str],
        config: RunConfig,
        backend: ChatBackend,
        retriever: Retriever,
        model_name: str,
        sink: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> ResearchSession:
        question = " ".join(question.split())
        if not question:
            raise SessionError("the research question is empty")
        state = RunState(question=question, language=detect_language(question))
        journal = RunJournal.create(
            data_dir, state, config, sources=list(sources), model=model_name
        )
        engine = Engine(
            run_id=journal.run_id,
            state=state,
            config=config,
            backend=backend,
            retriever=retriever,
            sink=sink,
            journal=journal,
            cancel=cancel,
        )
        return cls(journal, engine, model_name)

    @classmethod
    def resume(
        cls,
        data_dir: Path,
        run_id: str,
        *,
        backend: ChatBackend,
        retriever: Retriever,
        sink: EventSink | None = None,
        cancel: CancelToken | None = None,
        config_overrides: dict | None = None,
    ) -> ResearchSession:
        journal = RunJournal.open(data_dir, run_id)
        state = journal.latest_state()
        config = journal.config
        if config_overrides:
            config = replace(config, **config_overrides)
        engine = Engine(
            run_id=run_id,
            state=state,
            config=config,
            backend=backend,
            retriever=retriever,
            sink=sink,
            journal=journal,
            cancel=cancel,
        )
        return cls(journal, engine, journal.model)

    def run(self) -> RunState:
        return self.engine.run()

    def report(self) -> Report:
        return report_for(
            self.journal, self.engine.state, finished=self.engine.status == "finished"
        )

    def close(self) -> None:
        self.journal.close()


def report_for(
    journal: RunJournal, state: RunState | None = None, *, finished: bool | None = None
) -> Report:
    """The report model of a run's latest (or given) state."""
    state = state or journal.latest_state()
    info = journal.info()
    if state.outline is None:
        raise SessionError(f"run {info.id} has no outline yet: nothing to export")
    return build_report(
        state.outline,
        state.registry,
        question=state.question,
        created=time.strftime("%Y-%m-%d", time.localtime(info.created)),
        model=info.model,
        finished=state.done if finished is None else finished,
        language=state.language,
    )
