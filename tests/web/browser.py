"""What every browser test shares: Debian's Chromium driven by Playwright (never
`playwright install`), and an app served over HTTP on a thread with its sender running,
as `loyalty serve` runs them."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from web.sender_runtime import for_runtime

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium): pages are not tried in a browser",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[test]')")
expect = sync_api.expect

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@contextmanager
def launched(*extra_args: str) -> Iterator[Any]:
    """Chromium, headless, with ``extra_args`` (a fake camera, say)."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[*ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def serving(app: Flask, poll_seconds: float = 0.5) -> Iterator[str]:
    """``app`` over HTTP on a free port, its sender woken after each commit; yields the base URL."""
    rt = app.extensions["loyalty"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    service = for_runtime(rt, poll_seconds=poll_seconds)
    rt.wake_sender = service.wake
    service.start()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()
        service.stop()


def no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page is {width[0]}px wide in a {width[1]}px window"
