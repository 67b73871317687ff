"""A help-centre website: its sitemap and a same-host crawl from start URLs.

- robots.txt is honoured (and its Crawl-delay, when longer than ``delay_s``);
  a robots.txt that answers 5xx stops the run, as if everything were disallowed.
- Every request after the first waits ``delay_s``: one request at a time.
- Pages are fetched with ``If-None-Match`` / ``If-Modified-Since`` from what the
  index stored last time, so an unchanged page costs one 304 and no download;
  its links (stored too) keep the crawl going without the body.
- The main content is extracted with trafilatura (navigation, footers and
  cookie banners dropped) as Markdown, so the loader keeps headings and tables.
- Document id: the page's canonical URL (``<link rel="canonical">`` on the same
  host), else the URL fetched without its fragment.
A listing is complete only when the sitemap, robots.txt and every page answered;
a page answering 404 or 410 is gone, whatever else happened.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Iterator
from urllib.parse import urljoin, urldefrag, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx

from ingest.sources.base import Fetched, FetchError, Item, SourceError

_HTML_TYPES = ("text/html", "application/xhtml+xml")


def normalize(url: str) -> str:
    """Without fragment, lower-case scheme and host, no default port, '/' for an empty path."""
    parts = urlsplit(urldefrag(url)[0])
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if parts.port in (None, default) else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


class WebSource:
    def __init__(self, settings, client: httpx.Client | None = None):
        self.settings = settings
        self.name = settings.name
        self.client = client or httpx.Client(
            timeout=settings.timeout_s, follow_redirects=True, headers={"User-Agent": settings.user_agent})
        self.requests = 0
        self._fetched: dict[str, Fetched | FetchError] = {}
        self._robots: dict[str, RobotFileParser] = {}
        self._last_request = 0.0
        seeds = list(settings.start_urls) + ([settings.sitemap] if settings.sitemap else [])
        self.hosts = {urlsplit(normalize(u)).netloc for u in seeds}

    # -- HTTP -------------------------------------------------------------------
    def _get(self, url: str, headers: dict | None = None) -> httpx.Response:
        wait = self._delay(url) - (time.monotonic() - self._last_request)
        if self.requests and wait > 0:
            time.sleep(wait)
        self.requests += 1
        try:
            return self.client.get(url, headers=headers or {})
        finally:
            self._last_request = time.monotonic()

    def _delay(self, url: str) -> float:
        robots = self._robots.get(urlsplit(url).netloc)
        crawl_delay = robots.crawl_delay(self.settings.user_agent) if robots else None
        return max(self.settings.delay_s, float(crawl_delay or 0))

    def _allowed(self, url: str) -> bool:
        host = urlsplit(url).netloc
        if host not in self._robots:
            robots = RobotFileParser()
            robots_url = urlunsplit((urlsplit(url).scheme, host, "/robots.txt", "", ""))
            try:
                answer = self._get(robots_url)
            except httpx.HTTPError as exc:
                raise SourceError(f"{robots_url}: {exc}") from exc
            if answer.status_code >= 500:
                raise SourceError(f"{robots_url}: HTTP {answer.status_code}; not crawling {host}")
            robots.parse(answer.text.splitlines() if answer.status_code == 200 else [])
            self._robots[host] = robots
        return self._robots[host].can_fetch(self.settings.user_agent, url)

    # -- listing ------------------------------------------------------------------
    def _sitemap_urls(self, url: str, depth: int = 0) -> list[str]:
        from xml.etree import ElementTree

        try:
            answer = self._get(url)
        except httpx.HTTPError as exc:
            raise SourceError(f"sitemap {url}: {exc}") from exc
        if answer.status_code != 200:
            raise SourceError(f"sitemap {url}: HTTP {answer.status_code}")
        try:
            root = ElementTree.fromstring(answer.content)
        except ElementTree.ParseError as exc:
            raise SourceError(f"sitemap {url}: not valid XML: {exc}") from exc
        locs = [el.text.strip() for el in root.iter() if el.tag.endswith("loc") and el.text]
        if root.tag.endswith("sitemapindex") and depth < 2:
            return [u for child in locs for u in self._sitemap_urls(child, depth + 1)]
        return locs

    def list_items(self, known: dict[str, dict]) -> Iterator[Item]:
        by_fetch_url = {meta.get("fetch_url"): (doc_id, meta) for doc_id, meta in known.items()}
        seeds = [(u, 0) for u in self.settings.start_urls]
        if self.settings.sitemap:
            seeds += [(u, 0) for u in self._sitemap_urls(self.settings.sitemap)]
        queue = deque((normalize(u), d) for u, d in seeds)
        seen: set[str] = set()
        listed: set[str] = set()
        while queue and len(seen) < self.settings.max_pages:
            url, depth = queue.popleft()
            if url in seen or urlsplit(url).netloc not in self.hosts or not self._allowed(url):
                continue
            seen.add(url)
            doc_id, meta = by_fetch_url.get(url, (None, None))
            try:
                fetched = self._fetch_page(url, meta)
            except FetchError as exc:  # listed, so it keeps what it had and the run prunes nothing
                doc_id = doc_id or url
                self._fetched[doc_id] = exc
                yield Item(doc_id, url=(meta or {}).get("url", url))
                continue
            if fetched.gone:
                if doc_id:
                    self._fetched[doc_id] = fetched
                    yield Item(doc_id, url=meta.get("url"))
                continue
            doc_id = fetched.metadata.pop("canonical", None) or doc_id or url
            if doc_id in listed:
                continue  # two URLs, one canonical page
            listed.add(doc_id)
            self._fetched[doc_id] = fetched
            yield Item(doc_id, url=doc_id)
            if depth < self.settings.max_depth:
                links = fetched.metadata.get("links") or (meta or {}).get("links") or "[]"
                queue.extend((normalize(link), depth + 1) for link in json.loads(links))

    def fetch(self, item: Item, known: dict | None) -> Fetched:
        outcome = self._fetched[item.document_id]
        if isinstance(outcome, FetchError):
            raise outcome
        return outcome

    # -- one page -------------------------------------------------------------------
    def _fetch_page(self, url: str, meta: dict | None) -> Fetched:
        headers = {}
        if meta and meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta and meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
        try:
            answer = self._get(url, headers)
        except httpx.HTTPError as exc:
            raise FetchError(str(exc) or type(exc).__name__) from exc
        if answer.status_code == 304 and meta:
            return Fetched(unchanged=True, metadata={"links": meta.get("links", "[]")})
        if answer.status_code in (404, 410):
            return Fetched(gone=True)
        if answer.status_code != 200:
            raise FetchError(f"HTTP {answer.status_code}")
        if not answer.headers.get("content-type", "text/html").startswith(_HTML_TYPES):
            raise FetchError(f"not an HTML page ({answer.headers.get('content-type')})")
        page = answer.text
        content, suffix = _main_content(page)
        metadata = {
            "fetch_url": url, "etag": answer.headers.get("etag"),
            "last_modified": answer.headers.get("last-modified"),
            "links": json.dumps(_links(page, str(answer.url))), "canonical": _canonical(page, str(answer.url)),
        }
        return Fetched(content=content, suffix=suffix, metadata={k: v for k, v in metadata.items() if v})


def _parse(page: str):
    import lxml.html

    return lxml.html.fromstring(page)


def _links(page: str, base: str) -> list[str]:
    try:
        tree = _parse(page)
    except Exception:
        return []
    links = []
    for href in tree.xpath("//a/@href"):
        target = urljoin(base, href.strip())
        if urlsplit(target).scheme in ("http", "https"):
            links.append(normalize(target))
    return sorted(set(links))


def _canonical(page: str, base: str) -> str | None:
    try:
        hrefs = _parse(page).xpath('//link[@rel="canonical"]/@href')
    except Exception:
        return None
    if not hrefs:
        return None
    canonical = normalize(urljoin(base, hrefs[0].strip()))
    return canonical if urlsplit(canonical).netloc == urlsplit(normalize(base)).netloc else None


def _main_content(page: str) -> tuple[bytes, str]:
    """The page's main content as Markdown (title first), or the whole page when extraction finds none."""
    import trafilatura

    text = trafilatura.extract(page, output_format="markdown", include_tables=True, include_links=False,
                               include_comments=False, favor_recall=True)
    if not text:
        return page.encode("utf-8"), ".html"
    title = trafilatura.extract_metadata(page)
    title = title.title if title and title.title else None
    if title and not text.lstrip().startswith("#"):
        text = f"# {title}\n\n{text}"
    return text.encode("utf-8"), ".md"
