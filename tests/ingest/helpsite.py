"""A small help-centre website on a real local port, for the sync tests.

Pages are plain HTML with navigation and a footer around the article (what
main-content extraction must drop), strong ETags, a sitemap and a robots.txt.
Tests edit ``site.pages`` (path -> html, or an int status) while it runs and
read ``site.log`` (path, request headers, status) to see what the crawler sent.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def page(title: str, body: str, links: tuple[str, ...] = (), canonical: str | None = None) -> str:
    nav = "".join(f'<a href="{href}">{href}</a> ' for href in links)
    head = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return (f"<html><head><title>{title}</title>{head}</head><body>"
            f"<nav>Home | Help centre | Contact {nav}</nav>"
            f"<main><article><h1>{title}</h1><p>{body}</p></article></main>"
            f"<footer>Copyright Example Co. All rights reserved. Cookie settings.</footer></body></html>")


class HelpSite:
    def __init__(self):
        self.pages: dict[str, str | int] = {}
        self.robots = "User-agent: *\nDisallow: /private/\n"
        self.sitemap_status = 200
        self.log: list[tuple[str, dict, int]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                status, body, headers = site.answer(self.path, self.headers)
                site.log.append((self.path, dict(self.headers), status))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, headers) -> tuple[int, bytes, dict]:
        if path == "/robots.txt":
            return 200, self.robots.encode(), {"Content-Type": "text/plain"}
        if path == "/sitemap.xml" and self.sitemap_status != 200:
            return self.sitemap_status, b"unavailable", {"Content-Type": "text/plain"}
        if path == "/sitemap.xml":
            urls = "".join(f"<url><loc>{self.url}{p}</loc></url>" for p in self.pages if not p.startswith("/private"))
            xml = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
            return 200, xml.encode(), {"Content-Type": "application/xml"}
        content = self.pages.get(path, 404)
        if isinstance(content, int):
            return content, b"error", {"Content-Type": "text/plain"}
        etag = '"' + hashlib.sha256(content.encode()).hexdigest()[:16] + '"'
        if headers.get("If-None-Match") == etag:
            return 304, b"", {"ETag": etag}
        return 200, content.encode(), {"Content-Type": "text/html; charset=utf-8", "ETag": etag}

    def requests_for(self, path: str) -> list[tuple[dict, int]]:
        return [(h, s) for p, h, s in self.log if p == path]

    def __enter__(self) -> "HelpSite":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
