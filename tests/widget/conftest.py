"""The browser tier: Debian's chromium driven by Playwright, against the real `tenor serve`.

The browser is the system one (apt: `chromium`), never a downloaded build;
set TENOR_CHROMIUM to use another binary. Test pages for cross-site embedding
are served by a tiny HTTP server on ``tenor_server.widget_page_port``: as
http://127.0.0.1:PORT they are on an origin the widget key allows, as
http://localhost:PORT on one it does not.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

CHROMIUM = os.environ.get("TENOR_CHROMIUM", "/usr/bin/chromium")

EMBED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A shop that embeds the widget</title></head>
<body><h1>Some other site</h1>
<script src="{url}/widget.js" data-model="larkfield" data-key="{key}" data-title="Shop help" data-open="true" defer></script>
</body></html>
"""


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"no chromium at {CHROMIUM}: install Debian's (apt-get install chromium chromium-driver) "
                    "or set TENOR_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    yield context
    context.close()


@pytest.fixture(scope="module")
def embed_pages(tenor_server, tmp_path_factory):
    """(allowed, refused): the same embedding page on an allowed origin and on a refused one."""
    root = tmp_path_factory.mktemp("widget-pages")
    (root / "embed.html").write_text(EMBED_PAGE.format(url=tenor_server.url, key=tenor_server.widget_key))

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", tenor_server.widget_page_port),
                                 functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = tenor_server.widget_page_port
    yield f"http://127.0.0.1:{port}/embed.html", f"http://localhost:{port}/embed.html"
    server.shutdown()
    server.server_close()
