"""Web evidence: search providers, bounded page fetching, and retrievers that mix web and local.

Providers (`SearchProvider`): a SearXNG-compatible endpoint by URL (``GET {url}/search?q=…
&format=json``), DuckDuckGo through the optional ``ddgs`` package, and the Brave Search API
(keyed; the key comes from `desktop.secrets` under `WEB_SEARCH_KEY` or the environment variable
`WEB_SEARCH_KEY_ENV`, and never appears in settings, log lines or exception messages).

Every request goes through `desktop.network` (offline mode, network log). Fetched pages are
bounded: http(s) only, a size limit, a total time limit, a bounded number of redirects, and only
``text/html`` / ``text/plain`` (binary bodies are refused). Their readable text (trafilatura when
installed, else `desktop.knowledge.htmltext`) is chunked like a local document. Page text is data:
it only ever becomes passage text; nothing in a page can change a prompt's instructions.

`CombinedRetriever` splits each ranking between local and web passages by `web_share`, in an
order where every prefix keeps the split, so the engine's quota merge keeps it too.

A `WebPlan` is what a run's web search is (provider, endpoint, web share; never a key). The
session stores it in the run journal so that a resumed run searches the same way; offline
mode at resume time still wins (`WebPlan.blocked`: the run goes on with local documents).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from desktop import network
from desktop.core.evidence import Passage, Retriever
from desktop.knowledge.chunking import Section, chunk_section

log = logging.getLogger(__name__)

WEB_SEARCH_KEY = "web-search-api-key"  # the desktop.secrets name of the keyed provider's key
WEB_SEARCH_KEY_ENV = "DRAFTWELL_SEARCH_API_KEY"
PROVIDERS = ("searxng", "duckduckgo", "brave")
BRAVE_URL = "https://api.search.brave.com/res/v1/web/search"
MAX_PAGE_BYTES = 2 * 1024 * 1024
PAGE_TIMEOUT = 10.0  # seconds for a whole page, headers to last byte
MAX_REDIRECTS = 5
TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
USER_AGENT = "Draftwell/0.1 (private local research; +https://example.invalid/draftwell)"
_WORD = re.compile(r"\w+", re.UNICODE)


class WebSearchError(Exception):
    """A web search or page fetch failed; the message is one line and never holds a key."""


@dataclass(frozen=True, slots=True)
class WebPlan:
    """How a run searches the web: provider, search endpoint and web share (never the key)."""

    provider: str
    search_url: str | None = None  # SearXNG only; dropped for the other providers
    web_share: float = 0.5

    def __post_init__(self) -> None:
        if self.provider != "searxng" and self.search_url is not None:
            object.__setattr__(self, "search_url", None)

    @classmethod
    def from_settings(cls, web: Any) -> WebPlan:
        """The plan of the settings' web group (desktop.settings.WebSettings)."""
        return cls(web.web_provider, web.search_url, web.web_share)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WebPlan:
        """A plan read back from a run journal; raises WebSearchError if it is not one."""
        provider = data.get("provider")
        url = data.get("search_url")
        share = data.get("web_share")
        if (
            provider not in PROVIDERS
            or not (url is None or isinstance(url, str))
            or isinstance(share, bool)
            or not isinstance(share, int | float)
            or not 0.0 <= share <= 1.0
        ):
            raise WebSearchError("the run's stored web search settings are not valid")
        return cls(provider, url, float(share))

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "search_url": self.search_url,
            "web_share": self.web_share,
        }

    @property
    def on_loopback(self) -> bool:
        """A SearXNG endpoint on this machine: allowed even in offline mode."""
        return self.provider == "searxng" and network.is_loopback(
            network.host_of(self.search_url or "")
        )

    @property
    def blocked(self) -> bool:
        """Whether offline mode (now) forbids this plan."""
        return network.is_offline() and not self.on_loopback

    def describe(self) -> str:
        """One line for progress output: the provider (and endpoint host) and the share."""
        where = f" at {network.host_of(self.search_url or '')}" if self.search_url else ""
        return f"{self.provider}{where}, {self.web_share:.0%} of passages"


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result: where it points, its title and the provider's snippet."""

    url: str
    title: str
    snippet: str


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """A page's readable text (paragraphs separated by blank lines) and its title."""

    url: str
    title: str
    text: str
    truncated: bool = False


class SearchProvider(Protocol):
    name: str

    def search(self, query: str, n: int) -> list[SearchHit]: ...

    def close(self) -> None: ...


# ---- providers -----------------------------------------------------------------------------------
class SearxngProvider:
    """Any SearXNG-compatible endpoint: ``GET {base}/search?q=…&format=json``."""

    name = "searxng"

    def __init__(self, base_url: str, *, timeout: float = 15.0) -> None:
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise WebSearchError(f"the search URL must be http(s): {base_url}")
        self.base_url = base_url.rstrip("/").removesuffix("/search")
        self._client = network.client("web search (SearXNG)", timeout=timeout)

    def search(self, query: str, n: int) -> list[SearchHit]:
        try:
            response = self._client.get(
                f"{self.base_url}/search", params={"q": query, "format": "json"}
            )
            response.raise_for_status()
            data = response.json()
        except httpx.HTTPStatusError as exc:
            raise WebSearchError(
                f"the search endpoint answered {exc.response.status_code}"
            ) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise WebSearchError(f"the search endpoint failed: {type(exc).__name__}") from None
        results = data.get("results") if isinstance(data, dict) else None
        return _hits(results or [], "url", "content")[:n]

    def close(self) -> None:
        self._client.close()


class DuckDuckGoProvider:
    """DuckDuckGo through the ``ddgs`` package (no key). The package makes its own requests."""

    name = "duckduckgo"

    def __init__(self, *, timeout: float = 15.0) -> None:
        try:
            from ddgs import DDGS  # lazily: optional, and it imports a native HTTP client
        except ImportError as exc:
            raise WebSearchError(
                "DuckDuckGo search needs the ddgs package (pip install ddgs)"
            ) from exc
        self._ddgs = DDGS(timeout=int(timeout))

    def search(self, query: str, n: int) -> list[SearchHit]:
        network.guard("https://duckduckgo.com/", "web search (DuckDuckGo)")
        try:
            results = self._ddgs.text(query, max_results=n, backend="duckduckgo")
        except Exception as exc:  # ddgs raises its own DDGSException family, and network errors
            raise WebSearchError(f"DuckDuckGo search failed: {type(exc).__name__}") from None
        return _hits(results or [], "href", "body")[:n]

    def close(self) -> None:
        pass


class BraveProvider:
    """The Brave Search API; the key is sent in a header and never shown anywhere."""

    name = "brave"

    def __init__(self, api_key: str, *, url: str | None = None, timeout: float = 15.0) -> None:
        if not api_key:
            raise WebSearchError(
                f"Brave search needs an API key: save it in Settings or set {WEB_SEARCH_KEY_ENV}"
            )
        self._key = api_key
        self.url = url or BRAVE_URL
        self._client = network.client("web search (Brave)", timeout=timeout)

    def __repr__(self) -> str:
        return f"BraveProvider(url={self.url!r}, api_key=<hidden>)"

    def search(self, query: str, n: int) -> list[SearchHit]:
        headers = {"X-Subscription-Token": self._key, "Accept": "application/json"}
        try:
            response = self._client.get(
                self.url, params={"q": query, "count": min(n, 20)}, headers=headers
            )
            response.raise_for_status()
            data = response.json()
        except httpx.HTTPStatusError as exc:
            raise WebSearchError(f"Brave search answered {exc.response.status_code}") from None
        except (httpx.HTTPError, ValueError) as exc:
            raise WebSearchError(f"Brave search failed: {type(exc).__name__}") from None
        web = data.get("web") if isinstance(data, dict) else None
        results = web.get("results") if isinstance(web, dict) else None
        return _hits(results or [], "url", "description")[:n]

    def close(self) -> None:
        self._client.close()


def _hits(results: Sequence[Any], url_key: str, snippet_key: str) -> list[SearchHit]:
    """Well-formed http(s) results only; markup in titles and snippets is stripped."""
    hits = []
    for item in results:
        if not isinstance(item, dict):
            continue
        url = str(item.get(url_key) or "")
        if urlsplit(url).scheme not in ("http", "https") or not network.host_of(url):
            continue
        title = _plain(str(item.get("title") or ""))
        hits.append(SearchHit(url, title, _plain(str(item.get(snippet_key) or ""))))
    return hits


def _plain(text: str) -> str:
    return " ".join(re.sub(r"<[^>]*>", " ", text).split())


# ---- page fetching -----------------------------------------------------------------------------
class PageFetcher:
    """Fetch one page within limits and return its readable text, or raise `WebSearchError`.

    Hosts on loopback are refused unless `allow_loopback` (a search result must not reach local
    services); the CLI allows them only when the search endpoint itself is on loopback.
    """

    def __init__(
        self,
        *,
        max_bytes: int = MAX_PAGE_BYTES,
        timeout: float = PAGE_TIMEOUT,
        max_redirects: int = MAX_REDIRECTS,
        allow_loopback: bool = False,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._clock = clock  # seconds; a test passes one that it advances itself
        self.allow_loopback = allow_loopback
        self._client = network.client(
            "web page",
            timeout=timeout,
            max_redirects=max_redirects,
            headers={"User-Agent": USER_AGENT, "Accept": "text/html, text/plain;q=0.9"},
            transport=transport,
            block_loopback=not allow_loopback,
        )

    def fetch(self, url: str) -> FetchedPage:
        self._check_url(url)
        deadline = self._clock() + self.timeout
        try:
            with self._client.stream("GET", url) as response:
                self._check_url(str(response.url))  # after redirects
                response.raise_for_status()
                kind = _content_type(response)
                body, truncated = self._read(response, deadline)
                encoding = response.encoding
        except network.LoopbackBlocked:
            raise WebSearchError(f"a page on this machine is not fetched: {_short(url)}") from None
        except httpx.TooManyRedirects:
            raise WebSearchError(f"too many redirects: {_short(url)}") from None
        except httpx.HTTPStatusError as exc:
            raise WebSearchError(f"{_short(url)} answered {exc.response.status_code}") from None
        except httpx.HTTPError as exc:
            raise WebSearchError(f"{_short(url)} failed: {type(exc).__name__}") from None
        if b"\x00" in body[:4096]:
            raise WebSearchError(f"{_short(url)} is binary, not text")
        title, text = _readable(body, kind, encoding)
        if not text.strip():
            raise WebSearchError(f"{_short(url)} has no readable text")
        return FetchedPage(url, title, text, truncated)

    def _check_url(self, url: str) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise WebSearchError(f"not an http(s) page: {_short(url)}")
        if not self.allow_loopback and network.is_loopback(network.host_of(url)):
            raise WebSearchError(f"a page on this machine is not fetched: {_short(url)}")

    def _read(self, response: httpx.Response, deadline: float) -> tuple[bytes, bool]:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            log.info(
                "page %s declares %s bytes: keeping the first %s",
                response.url,
                declared,
                self.max_bytes,
            )
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            if self._clock() > deadline:
                raise WebSearchError(f"{_short(str(response.url))} was too slow")
            chunks.append(chunk)
            size += len(chunk)
            if size >= self.max_bytes:
                return b"".join(chunks)[: self.max_bytes], True
        return b"".join(chunks), False

    def close(self) -> None:
        self._client.close()


def _content_type(response: httpx.Response) -> str:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in TEXT_TYPES:
        raise WebSearchError(f"{_short(str(response.url))} is {kind or 'untyped'}, not text")
    return kind


def _short(url: str) -> str:
    """A URL for a message: scheme, host and path, never the query string."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:200]


def _readable(body: bytes, kind: str, encoding: str | None) -> tuple[str, str]:
    """The title and the readable text of a page, paragraphs separated by blank lines."""
    if kind == "text/plain":
        return "", body.decode(encoding or "utf-8", errors="replace")
    from desktop.knowledge.htmltext import decode_html, extract

    html = decode_html(body)
    fallback = extract(html)
    try:
        import trafilatura  # lazily: optional and slowish to import
    except ImportError:
        return fallback.title, "\n\n".join(s.text for s in fallback.sections)
    try:
        text = trafilatura.extract(html, include_comments=False, include_tables=True)
    except Exception as exc:  # trafilatura on hostile markup: use the plain extractor
        log.info("trafilatura failed (%s); using the plain HTML extractor", type(exc).__name__)
        text = None
    if not text:
        return fallback.title, "\n\n".join(s.text for s in fallback.sections)
    return fallback.title, "\n\n".join(line for line in text.splitlines() if line.strip())


# ---- the retrievers ----------------------------------------------------------------------------
class WebRetriever:
    """The Retriever protocol over a search provider: page chunks first, snippets after.

    The top `max_pages` hits are fetched (in parallel); each contributes its chunks that best
    match the query, interleaved by hit rank. Hits that were not fetched, or failed, contribute
    their snippet. A failed search logs a warning and yields no web passages for that query.
    """

    def __init__(
        self,
        provider: SearchProvider,
        fetcher: PageFetcher | None = None,
        *,
        max_pages: int = 4,
        chunks_per_page: int = 3,
    ) -> None:
        self.provider = provider
        self.fetcher = fetcher
        self.max_pages = max_pages
        self.chunks_per_page = chunks_per_page
        self._pages: dict[str, FetchedPage | None] = {}
        self.errors: list[str] = []

    def search(self, query: str, k: int) -> list[Passage]:
        if k <= 0:
            return []
        try:
            hits = self.provider.search(query, max(k, self.max_pages))
        except (WebSearchError, network.OfflineError) as exc:
            self._warn(f"web search for {query!r} failed: {exc}")
            return []
        accessed = datetime.now(UTC).date().isoformat()
        fetched = self._fetch_all([h.url for h in hits[: self.max_pages]])
        per_hit: list[list[Passage]] = []
        for hit in hits:
            page = fetched.get(hit.url)
            if page is not None:
                per_hit.append(self._page_passages(hit, page, query, accessed))
            elif hit.snippet:
                per_hit.append([_passage(hit.snippet, hit.url, hit.title, "snippet", accessed)])
        return _round_robin(per_hit)[:k]

    def _fetch_all(self, urls: list[str]) -> dict[str, FetchedPage | None]:
        if self.fetcher is None:
            return {}
        todo = [u for u in dict.fromkeys(urls) if u not in self._pages]
        if todo:
            with ThreadPoolExecutor(max_workers=min(4, len(todo))) as pool:
                for url, page in zip(todo, pool.map(self._fetch_one, todo), strict=True):
                    self._pages[url] = page
        return {u: self._pages.get(u) for u in urls}

    def _fetch_one(self, url: str) -> FetchedPage | None:
        assert self.fetcher is not None
        try:
            return self.fetcher.fetch(url)
        except (WebSearchError, network.OfflineError) as exc:
            self._warn(f"page skipped: {exc}")
            return None

    def _page_passages(
        self, hit: SearchHit, page: FetchedPage, query: str, accessed: str
    ) -> list[Passage]:
        title = hit.title or page.title or hit.url
        chunks = chunk_section(Section(page.text, page=None, heading=""))
        terms = set(_WORD.findall(query.lower()))
        ranked = sorted(
            enumerate(chunks),
            key=lambda ic: (-len(terms & set(_WORD.findall(ic[1].text.lower()))), ic[0]),
        )
        return [
            _passage(chunk.text, hit.url, title, str(index), accessed)
            for index, chunk in ranked[: self.chunks_per_page]
        ]

    def _warn(self, message: str) -> None:
        self.errors.append(message)
        log.warning("%s", message)

    def close(self) -> None:
        self.provider.close()
        if self.fetcher is not None:
            self.fetcher.close()


def _passage(text: str, url: str, title: str, part: str, accessed: str) -> Passage:
    digest = hashlib.sha1(url.encode("utf-8")).hexdigest()[:12]
    return Passage(
        text=text,
        source=url,
        page=None,
        chunk_id=f"web:{digest}:{part}",
        title=title,
        kind="web",
        accessed=accessed,
    )


def _round_robin(groups: list[list[Passage]]) -> list[Passage]:
    out: list[Passage] = []
    depth = max((len(g) for g in groups), default=0)
    for i in range(depth):
        out.extend(g[i] for g in groups if i < len(g))
    return out


class CombinedRetriever:
    """Local and web passages in one ranking, `web_share` of it from the web.

    The ranking is interleaved so that every prefix keeps the split (the engine's quota merge
    keeps prefixes); when one side runs out, the other fills the rest.
    """

    def __init__(
        self, local: Retriever, web: Retriever, web_share: float, *, plan: WebPlan | None = None
    ) -> None:
        if not 0.0 <= web_share <= 1.0:
            raise ValueError(f"web_share must be between 0 and 1, not {web_share}")
        self.local = local
        self.web = web
        self.web_share = web_share
        self.web_plan = plan  # what a session stores in the run journal, for resume

    def search(self, query: str, k: int) -> list[Passage]:
        if k <= 0:
            return []
        n_web = round(k * self.web_share)
        local = self.local.search(query, k) if n_web < k else []
        web = self.web.search(query, n_web) if n_web > 0 else []
        return self._interleave(local, web, k)

    def _interleave(self, local: list[Passage], web: list[Passage], k: int) -> list[Passage]:
        out: list[Passage] = []
        li = wi = 0
        while len(out) < k and (li < len(local) or wi < len(web)):
            want_web = wi < round((len(out) + 1) * self.web_share)
            if (want_web and wi < len(web)) or li >= len(local):
                out.append(web[wi])
                wi += 1
            else:
                out.append(local[li])
                li += 1
        return out

    def close(self) -> None:
        """Close the web part; the local retriever belongs to whoever passed it in."""
        self.web.close()


# ---- construction ------------------------------------------------------------------------------
def build_provider(
    provider: str, data_dir: Path, *, search_url: str | None = None
) -> SearchProvider:
    """The configured provider; the keyed one reads its key from desktop.secrets."""
    if provider == "searxng":
        if not search_url:
            raise WebSearchError("SearXNG search needs a search URL (--search-url or Settings)")
        return SearxngProvider(search_url)
    if provider == "duckduckgo":
        return DuckDuckGoProvider()
    if provider == "brave":
        from desktop.secrets import get_secret

        key = get_secret(WEB_SEARCH_KEY, data_dir, env_var=WEB_SEARCH_KEY_ENV)
        return BraveProvider(key or "")
    raise WebSearchError(
        f"unknown web search provider {provider!r} (one of {', '.join(PROVIDERS)})"
    )


def build_web_retriever(
    provider: str, data_dir: Path, *, search_url: str | None = None
) -> WebRetriever:
    """A WebRetriever with page fetching. Pages on loopback are fetched only when the search
    endpoint itself is on loopback (a local test or intranet setup)."""
    search = build_provider(provider, data_dir, search_url=search_url)
    local_endpoint = bool(search_url) and network.is_loopback(network.host_of(search_url or ""))
    return WebRetriever(
        search, PageFetcher(allow_loopback=provider == "searxng" and local_endpoint)
    )


def combine(local: Retriever, plan: WebPlan, data_dir: Path) -> CombinedRetriever:
    """Local + web evidence as `plan` says (the plan travels with it, for the run journal)."""
    web = build_web_retriever(plan.provider, data_dir, search_url=plan.search_url)
    return CombinedRetriever(local, web, plan.web_share, plan=plan)


def plan_from_settings(web: Any) -> WebPlan | None:
    """How a new run searches the web by the settings' web group (WebSettings), or None (web
    search off, or offline mode on and the endpoint is not on loopback: then with a log line)."""
    if not web.web_search:
        return None
    plan = WebPlan.from_settings(web)
    if plan.blocked:
        log.info("offline mode: web search is off for this run")
        return None
    return plan
