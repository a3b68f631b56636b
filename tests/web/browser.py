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


# What a person sees, checked in the page: text boxes that overlap, form controls without a
# name a screen reader can say, text whose contrast with what is behind it is under WCAG AA.
_AUDIT = r"""
() => {
  const visible = el => {
    const s = getComputedStyle(el), r = el.getBoundingClientRect();
    // What a closed <details> holds (but its <summary>) is not drawn, though Chromium gives it boxes.
    const folded = el.closest('details:not([open])') && !el.closest('summary');
    return !folded && s.visibility !== 'hidden' && s.display !== 'none' && r.width > 0 && r.height > 0;
  };
  const name = el => (el.closest('svg') ? el.closest('svg').tagName : el.tagName.toLowerCase()) +
    (el.id ? '#' + el.id : '') + ' "' + (el.innerText || el.value || '').trim().slice(0, 30) + '"';
  // Leaf boxes of text: every text node's own rectangles.
  const boxes = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || !el || !visible(el) || el.closest('.visually-hidden, .skip, svg, option, script, style')) continue;
    const range = document.createRange(); range.selectNodeContents(node);
    for (const r of range.getClientRects()) if (r.width > 1 && r.height > 1) boxes.push({el, r});
  }
  const overlaps = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i].r, b = boxes[j].r;
    const w = Math.min(a.right, b.right) - Math.max(a.left, b.left), h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (w > 2 && h > 2) overlaps.push(name(boxes[i].el) + ' over ' + name(boxes[j].el));
  }
  const unlabelled = [];
  for (const el of document.querySelectorAll('input, select, textarea, button')) {
    if (el.type === 'hidden' || !visible(el)) continue;
    const said = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') ||
      (el.tagName === 'BUTTON' && el.innerText.trim()) || (el.type === 'submit' && el.value);
    if (!said) unlabelled.push(name(el));
  }
  const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3); } return [255, 255, 255]; };
  const faint = [];
  for (const {el} of boxes) {
    const fg = rgb(getComputedStyle(el).color).slice(0, 3), bg = background(el);
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    if (ratio < 4.5) faint.push(name(el) + ' ' + ratio.toFixed(2) + ':1');
  }
  return {overlaps: [...new Set(overlaps)], unlabelled, faint: [...new Set(faint)],
          wide: [document.documentElement.scrollWidth, window.innerWidth]};
}
"""


def audit(page: Any) -> None:
    """No horizontal scrolling, no text over other text, every control named, text contrast
    of 4.5:1 or more (WCAG AA)."""
    found = page.evaluate(_AUDIT)
    where = page.url
    assert found["wide"][0] <= found["wide"][1], f"{where}: {found['wide'][0]}px wide in a {found['wide'][1]}px window"
    assert not found["overlaps"], f"{where}: text overlaps: {found['overlaps'][:5]}"
    assert not found["unlabelled"], f"{where}: controls without a label: {found['unlabelled']}"
    assert not found["faint"], f"{where}: low contrast: {found['faint'][:5]}"
