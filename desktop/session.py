"""Wire one research run together (Qt-free): journal, model backend, retriever and engine.

The CLI's research and resume and the GUI's engine worker all run through `open_run`, a context
manager that builds what a run needs (the web retriever from the run's plan, the network log
into its journal), starts or resumes it, and closes exactly what it built; anything the GUI can
do to a run a test can do headlessly.

A run that searches the web keeps its `WebPlan` (provider, search endpoint, web share; never a
key) in the journal's `meta` table, and `ResearchSession.resume` rebuilds the same local + web
retriever from it. Offline mode at resume time wins: a plan that would leave the machine is
not used, the run goes on with local documents only, and `notice` says so in one line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from desktop import network
from desktop.core.cancel import CancelToken
from desktop.core.chat import BackendError, ChatBackend
from desktop.core.commands import CommandQueue
from desktop.core.engine import Engine
from desktop.core.events import EventSink
from desktop.core.evidence import Retriever
from desktop.core.language import detect_language
from desktop.core.report import Report
from desktop.core.state import RunConfig, RunState, RunStatus
from desktop.core.support import checked_report
from desktop.settings import LibrarySettings, ModelSettings, RuntimeSettings, Settings
from desktop.store.journal import RunJournal

if TYPE_CHECKING:
    from desktop.knowledge.library import Library
    from desktop.knowledge.web import WebPlan

# Builds a run's retriever from the local one and a web plan (desktop.knowledge.web.combine).
WebBuilder = Callable[[Retriever, "WebPlan", Path], Retriever]

log = logging.getLogger(__name__)

WEB_META = "web"  # the journal meta record holding a run's WebPlan
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
    def from_settings(model: ModelSettings) -> ModelChoice:
        """The choice the settings' model group makes."""
        return ModelChoice(
            Path(model.model_path) if model.model_path else None,
            model.server_url,
            model.server_model,
            model.api_key_env,
        )


def open_library(data_dir: Path, chosen: LibrarySettings) -> Library:
    """The document library the settings' library group describes (index, embedder, OCR)."""
    from desktop.knowledge.embedder import embedder_from_setting
    from desktop.knowledge.library import Library

    embedder = embedder_from_setting(chosen.embedder, data_dir)
    return Library(data_dir, chroma_url=chosen.chroma_url, embedder=embedder, ocr=chosen.ocr)


def resolve_model_path(choice: ModelChoice) -> Path:
    if choice.path is not None:
        return choice.path.expanduser().resolve()
    from desktop.llm.models import embedded_model_path

    return embedded_model_path()


def open_backend(choice: ModelChoice, runtime: RuntimeSettings, data_dir: Path) -> ChatBackend:
    """Load the chosen model as `runtime` says (slow: run it off the GUI thread)."""
    if choice.server_url:
        from desktop.llm.openai_http import OpenAICompatBackend
        from desktop.secrets import SERVER_API_KEY, get_secret

        key = get_secret(SERVER_API_KEY, data_dir, env_var=choice.api_key_env)
        backend = OpenAICompatBackend(
            choice.server_url,
            model=choice.server_model,
            api_key=key,
            context_length=runtime.n_ctx,
        )
        try:
            backend.probe()  # an unreachable server fails here, before any run is created
        except BackendError:
            backend.close()
            raise
        return backend
    from desktop.llm.llamacpp import LlamaCppBackend

    lookup, flash_attn = drafting(runtime, choice)
    return LlamaCppBackend(
        resolve_model_path(choice),
        n_ctx=runtime.n_ctx,
        n_threads=runtime.n_threads,
        n_gpu_layers=runtime.n_gpu_layers,
        flash_attn=flash_attn,
        kv_cache_type=runtime.kv_cache_type,
        reuse_moved_text=runtime.reuse_moved_text,
        prompt_lookup=lookup,
    )


def drafting(runtime: RuntimeSettings, choice: ModelChoice) -> tuple[bool, bool]:
    """(draft by prompt lookup, flash attention) for loading the local model.

    Drafting is exact only with flash attention (desktop.llm.lookup_decoding), so drafting
    turns it on. "auto" drafts for models of at least `AUTO_MIN_PARAMETERS`: there a decode is
    memory-bound and a verifying pass of a few tokens costs about one decode; a small model on
    a CPU is compute-bound and drafting does not pay (bench/bench_verify_pass.py).
    """
    from desktop.llm.lookup_decoding import AUTO_MIN_PARAMETERS

    match runtime.prompt_lookup:
        case "on":
            return True, True
        case "off":
            return False, runtime.flash_attn
    parameters = model_parameters(choice)
    if parameters is not None and parameters >= AUTO_MIN_PARAMETERS:
        log.info("drafting writes by prompt lookup (%.1f B parameters)", parameters / 1e9)
        return True, True
    return False, runtime.flash_attn


def config_for(
    choice: ModelChoice, settings: Settings, backend: ChatBackend | None = None, **overrides
) -> RunConfig:
    """Budgets from settings; small models also get the citation and script guards.

    A local GGUF is small by its file size; a server's model (when its backend is given) by
    the model id it reports: a local GGUF path (llama-cpp-python's server) or a name like 135M.
    """
    given, checks = settings.budgets, settings.checks
    budgets = dict(
        max_step=given.max_step,
        max_extend=given.max_extend,
        hard_mode=given.hard_mode or _constrains_nothing(backend),
    )
    budgets.update({k: v for k, v in overrides.items() if v is not None})
    budgets.setdefault("revise_unsupported", checks.revise_unsupported)
    budgets.setdefault("judge_claims", judge_wanted(checks.check_judge, choice, backend))
    if choice.server_url:
        small = backend is not None and _is_small_served_model(backend)
    else:
        small = _is_small_file(lambda: resolve_model_path(choice))
    if small:
        return RunConfig.for_small_model(**budgets)
    return RunConfig(max_tokens=given.max_tokens, **budgets)


def _constrains_nothing(backend: ChatBackend | None) -> bool:
    """A server that takes neither a grammar nor a JSON schema: every reply is validated
    strictly instead (hard mode)."""
    if backend is None:
        return False
    try:
        return not backend.supports_grammar and not backend.supports_json_schema
    except BackendError:
        return False


# A served model's size from its name: "8B", "Qwen2.5-14B-Instruct", "llama3:70b".
PARAMETERS_IN_NAME = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*[bB]\b")


def model_parameters(choice: ModelChoice, backend: ChatBackend | None = None) -> int | None:
    """The model's parameter count: from the GGUF's tensors, or a server model's name."""
    if choice.server_url:
        name = ""
        if backend is not None:
            try:
                name = backend.model_id
            except BackendError:
                name = ""
        if name.lower().endswith(".gguf"):
            return _gguf_parameters(Path(name))
        match = PARAMETERS_IN_NAME.search(name or choice.server_model or "")
        return int(float(match.group(1)) * 1e9) if match else None
    try:
        return _gguf_parameters(resolve_model_path(choice))
    except (OSError, ValueError, BackendError):
        return None


def _gguf_parameters(path: Path) -> int | None:
    from desktop.llm.gguf import GGUFError, read_metadata

    try:
        return read_metadata(path).parameter_count
    except (GGUFError, OSError):
        return None


def judge_wanted(setting: str, choice: ModelChoice, backend: ChatBackend | None) -> bool:
    """Whether the citation check asks the model: "on", "off", or "auto" (>= 3 B parameters)."""
    from desktop.core.verify import JUDGE_MIN_PARAMETERS

    if setting in ("on", "off"):
        return setting == "on"
    parameters = model_parameters(choice, backend)
    return parameters is not None and parameters >= JUDGE_MIN_PARAMETERS


def verifier_for(retriever: Retriever):
    """The citation check of a run: words and numbers, plus the library's embedder when the
    retriever has one (a CombinedRetriever's local part counts)."""
    from desktop.core.verify import SectionVerifier
    from desktop.knowledge.retrieval import LibraryRetriever
    from desktop.knowledge.web import CombinedRetriever

    local = retriever.local if isinstance(retriever, CombinedRetriever) else retriever
    embedder = local.embedder if isinstance(local, LibraryRetriever) else None
    if embedder is None:
        return SectionVerifier()
    from desktop.knowledge.claim_similarity import EmbeddingSimilarity

    return SectionVerifier(similarity=EmbeddingSimilarity(embedder))


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

    def __init__(
        self,
        journal: RunJournal,
        engine: Engine,
        model_name: str,
        *,
        web_plan: WebPlan | None = None,
        notice: str = "",
        owned: Sequence[Retriever] = (),
    ) -> None:
        self.journal = journal
        self.engine = engine
        self.model_name = model_name
        self.web_plan = web_plan  # the WebPlan this session searches with, or None
        self.notice = notice  # one line for the user (e.g. web search skipped offline), or ""
        self._owned = list(owned)  # retrievers this session built and closes

    @property
    def run_id(self) -> str:
        return self.engine.run_id

    @property
    def commands(self) -> CommandQueue:
        return self.engine.commands

    @property
    def state(self) -> RunState:
        """The last committed state."""
        return self.engine.state

    @property
    def config(self) -> RunConfig:
        return self.engine.config

    @property
    def status(self) -> RunStatus:
        return self.engine.status

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
        web_plan: WebPlan | None = None,
        commands: CommandQueue | None = None,
    ) -> ResearchSession:
        """Create a run that searches with `retriever`. Its `web_plan` (how `retriever` searches
        the web, or None) is stored in the journal for resume."""
        question = " ".join(question.split())
        if not question:
            raise SessionError("the research question is empty")
        plan = web_plan
        state = RunState(question=question, language=detect_language(question))
        journal = RunJournal.create(
            data_dir, state, config, sources=list(sources), model=model_name
        )
        if plan is not None:
            journal.set_meta(WEB_META, plan.to_dict())
        engine = Engine(
            run_id=journal.run_id,
            state=state,
            config=config,
            backend=backend,
            retriever=retriever,
            sink=sink,
            journal=journal,
            commands=commands,
            cancel=cancel,
            verifier=verifier_for(retriever),
        )
        return cls(journal, engine, model_name, web_plan=plan)

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
        web: bool = True,
        commands: CommandQueue | None = None,
        web_builder: WebBuilder | None = None,
        journal: RunJournal | None = None,
    ) -> ResearchSession:
        """Continue a run. `retriever` covers the local documents; when the run searched the
        web (and `web` is true) the same web search is added from the journal's stored plan,
        unless offline mode forbids it now (then local only, and `notice` says so).

        `journal`: the run's journal, already opened (and claimed) by the caller, so that no
        other process can take the run while the caller loads the model; the session owns it
        from here on."""
        journal = journal or RunJournal.open(data_dir, run_id)
        try:
            journal.claim()  # one writer per run: refused with one line if another holds it
            state = journal.latest_state()
            config = journal.config
            if config_overrides:
                config = replace(config, **config_overrides)
            plan, notice = _stored_web_plan(journal) if web else (None, "")
            owned: list[Retriever] = []
            if plan is not None:
                retriever = with_web_search(
                    retriever, plan, data_dir, web_builder, "cannot resume the run's web search"
                )
                owned.append(retriever)
        except BaseException:
            journal.close()
            raise
        if notice:
            log.warning("%s", notice)
        engine = Engine(
            run_id=run_id,
            state=state,
            config=config,
            backend=backend,
            retriever=retriever,
            sink=sink,
            journal=journal,
            commands=commands,
            cancel=cancel,
            verifier=verifier_for(retriever),
        )
        return cls(journal, engine, journal.model, web_plan=plan, notice=notice, owned=owned)

    def run(self) -> RunState:
        return self.engine.run()

    def report(self) -> Report:
        return report_for(
            self.journal, self.engine.state, finished=self.engine.status == "finished"
        )

    def close(self) -> None:
        """Close the retrievers this session built, then the journal."""
        close_quietly(self._owned)
        self._owned.clear()
        self.journal.close()


def close_quietly(retrievers: Sequence[Retriever]) -> None:
    """Close each retriever; a failure is logged (closing HTTP clients must not hide the run's
    outcome)."""
    for retriever in retrievers:
        try:
            retriever.close()
        except Exception as exc:
            log.warning("closing the web search failed: %s", exc)


def with_web_search(
    local: Retriever,
    plan: WebPlan,
    data_dir: Path,
    builder: WebBuilder | None = None,
    failure: str = "",
) -> Retriever:
    """`local` plus the web search `plan` describes (`builder`: desktop.knowledge.web.combine);
    a plan that cannot work is a SessionError (`failure` says what could not be done)."""
    from desktop.knowledge.web import WebSearchError, combine

    try:
        return (builder or combine)(local, plan, data_dir)
    except WebSearchError as exc:
        raise SessionError(f"{failure}: {exc}" if failure else str(exc)) from None


@dataclass(frozen=True, slots=True)
class RunSpec:
    """A new run: the question, the documents it may cite, budgets, model, web plan."""

    question: str
    sources: tuple[str, ...]
    config: RunConfig
    model_name: str
    web_plan: WebPlan | None = None  # None: local documents only


@contextmanager
def open_run(
    data_dir: Path,
    run: RunSpec | str | RunJournal,
    *,
    backend: ChatBackend,
    local: Retriever,
    sink: EventSink | None = None,
    cancel: CancelToken | None = None,
    commands: CommandQueue | None = None,
    early: network.EntryBuffer | None = None,
    web_builder: WebBuilder | None = None,
) -> Iterator[ResearchSession]:
    """Start `run` (a RunSpec) or resume it (a run id, or its journal already claimed by the
    caller: see `ResearchSession.resume`) and yield its session.

    A new run searches the web when its spec has a plan; a resumed one as its journal says
    (offline mode now still wins). Outgoing requests made while the session is open go to the
    run's network log, after `early` (those made before it existed: a server's probe). On exit
    — success, failure or cancel — the web retriever built here and the journal are closed;
    the backend and `local` belong to the caller.
    """
    built: list[Retriever] = []
    if isinstance(run, RunSpec):
        retriever = local
        if run.web_plan is not None:
            retriever = with_web_search(local, run.web_plan, data_dir, web_builder)
            built.append(retriever)
        try:
            session = ResearchSession.start(
                data_dir,
                run.question,
                sources=list(run.sources),
                config=run.config,
                backend=backend,
                retriever=retriever,
                model_name=run.model_name,
                sink=sink,
                cancel=cancel,
                web_plan=run.web_plan,
                commands=commands,
            )
        except BaseException:
            close_quietly(built)
            raise
    else:
        claimed = run if isinstance(run, RunJournal) else None
        session = ResearchSession.resume(
            data_dir,
            claimed.path.stem if claimed is not None else str(run),
            journal=claimed,
            backend=backend,
            retriever=local,
            sink=sink,
            cancel=cancel,
            commands=commands,
            web_builder=web_builder,
        )
    try:
        if early is not None:
            early.flush_to(session.journal)
        with network.recording_to(session.journal):
            yield session
    finally:
        session.close()
        close_quietly(built)


def _stored_web_plan(journal: RunJournal) -> tuple[WebPlan | None, str]:
    """(the run's WebPlan to use now or None, a notice when offline mode drops it)."""
    data = journal.meta(WEB_META)
    if data is None:
        return None, ""
    from desktop.knowledge.web import WebPlan, WebSearchError

    try:
        plan = WebPlan.from_dict(data)
    except WebSearchError as exc:
        raise SessionError(str(exc)) from None
    if plan.blocked:
        return None, (
            f"offline mode: this run searched the web ({plan.provider}); it continues with "
            "your documents only"
        )
    return plan, ""


def report_for(
    journal: RunJournal,
    state: RunState | None = None,
    *,
    finished: bool | None = None,
    check_appendix: bool = False,
) -> Report:
    """The report model of a run's latest (or given) state, with its citation check."""
    state = state or journal.latest_state()
    info = journal.info()
    if state.outline is None:
        raise SessionError(f"run {info.id} has no outline yet: nothing to export")
    from desktop.core.verify import SectionVerifier

    return checked_report(
        state.outline,
        state.registry,
        journal.checks(),
        question=state.question,
        created=info.created,
        model=info.model,
        finished=state.done if finished is None else finished,
        language=state.language,
        appendix=check_appendix,
        # Text the journal has no check of is checked now, with words and numbers.
        verifier=SectionVerifier(),
    )
