"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium) against a real server.

Playwright never downloads a browser here: `scripts/install_chromium.sh` installs Debian's chromium
and fonts-noto-cjk (CI runs it from scripts/test.sh). Without /usr/bin/chromium the tests skip.
Every page is watched: JavaScript errors (console errors and uncaught exceptions) must be zero, and
no request may get a 5xx or an unexpected 404.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.server import running_server

CHROMIUM = Path(os.environ.get("SMARTREPLY_CHROMIUM", "/usr/bin/chromium"))
REPO = Path(__file__).resolve().parents[2]
# Screenshots go to docs/img only when asked (SMARTREPLY_SCREENSHOTS=1): the docs' pictures change
# when someone looks at them and commits them, not on every test run.
SHOTS = REPO / "docs" / "img" if os.environ.get("SMARTREPLY_SCREENSHOTS") else Path(tempfile.gettempdir()) / "smartreply-shots"
AXE = REPO / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--font-render-hinting=none"]
VIEWPORTS = {"1366x768": {"width": 1366, "height": 768}, "1024x700": {"width": 1024, "height": 700},
             "1920x1080": {"width": 1920, "height": 1080}}

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: run `bash scripts/install_chromium.sh` (Debian's chromium + "
                "fonts-noto-cjk) to run the browser tests", allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' (playwright)")

pytestmark = pytest.mark.slow


@dataclass
class Live:
    base: str
    data_dir: Path
    keys: dict = field(default_factory=dict)

    def headers(self, scope: str = "admin") -> dict[str, str]:
        key = self.keys.get(scope)
        return {"Authorization": f"Bearer {key}"} if key else {}


def _demo_keys(data_dir: Path) -> dict:
    """Keys written by `serve --demo` (issue 6), as {"admin": key, "agent": key}; {} before auth exists."""
    path = data_dir / "demo-keys.json"
    if not path.exists():
        return {}
    raw = json.loads(path.read_text())
    if isinstance(raw, dict) and all(isinstance(v, str) for v in raw.values()):
        return raw
    keys = raw.get("keys", raw) if isinstance(raw, dict) else raw
    out: dict[str, str] = {}
    for k in keys if isinstance(keys, list) else []:
        for scope in k.get("scopes", [k.get("scope")]):
            if scope and "key" in k:
                out.setdefault(scope, k["key"])
    return out


@pytest.fixture(scope="session")
def live(tmp_path_factory) -> Iterator[Live]:
    """One real server (real encoder, demo shop) for the browser tests."""
    data_dir = tmp_path_factory.mktemp("browser-server")
    with running_server(data_dir, "--demo") as (base, _log):
        yield Live(base=base, data_dir=data_dir, keys=_demo_keys(data_dir))


@pytest.fixture(scope="session")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Watch:
    """What went wrong in the page: must stay empty."""
    js_errors: list = field(default_factory=list)
    bad_responses: list = field(default_factory=list)
    expected_status: set = field(default_factory=lambda: {422})  # upload reports, invalid edits

    def check(self) -> None:
        assert self.js_errors == [], f"JavaScript errors in the console: {self.js_errors}"
        assert self.bad_responses == [], f"unexpected HTTP responses: {self.bad_responses}"


def open_page(browser, live: Live, path: str, *, viewport: str = "1366x768", shop: str = "demo",
              scope: str | None = "admin", lang: str = "zh", expected: set[int] | None = None,
              clock: bool = False, key: str | None = None):
    """A fresh context (settings in localStorage) on `path`, with console errors and bad responses watched.

    Each console keeps its own key per shop (``smartreply.key.<console>.<shop>``): ``scope`` is the demo
    shop's key put in this page's console (None: no key at all); ``key``, another shop's key instead.
    ``clock``: the page's time is Playwright's (``page.clock.fast_forward`` moves it on)."""
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale="zh-CN", accept_downloads=True)
    console = "agent" if path.startswith("/console/agent") else "merchant"
    settings = {"smartreply.shop": shop, "smartreply.lang": lang}
    if key is not None or scope is not None:
        settings[f"smartreply.key.{console}.{shop}"] = key if key is not None else live.keys.get(scope, "")
    context.add_init_script(f"for (const [k, v] of Object.entries({json.dumps(settings)})) "
                            "if (localStorage.getItem(k) === null) localStorage.setItem(k, v);")
    page = context.new_page()
    watch = Watch()
    if expected:
        watch.expected_status |= expected

    def on_console(msg):
        # Chromium logs every non-2xx fetch as "Failed to load resource"; those are judged by status below.
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            watch.js_errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watch.js_errors.append(f"pageerror: {exc}"))

    def on_response(res):
        if res.status >= 500 or (res.status >= 400 and res.status not in watch.expected_status):
            watch.bad_responses.append(f"{res.request.method} {res.url} -> {res.status}")

    page.on("response", on_response)
    if clock:
        page.clock.install()
    page.goto(live.base + path)
    page.wait_for_selector("body[data-ready=true]")
    return page, watch


def screenshot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path), full_page=False)
    return path


def accessibility_problems(page) -> list[str]:
    """Labels, names and overflow, checked in the page; plus axe-core (wcag2a/aa) when it is installed."""
    problems = page.evaluate("""() => {
      const out = [];
      const visible = (el) => el.offsetParent !== null || el.getClientRects().length > 0;
      for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
        if (el.type === 'file') continue;  // labelled by its visible <label for> button
        const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.closest('label')
          || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
        if (!labelled) out.push(`no label: ${el.outerHTML.slice(0, 80)}`);
      }
      for (const el of document.querySelectorAll('button, a[href]')) {
        if (visible(el) && !(el.textContent.trim() || el.getAttribute('aria-label'))) out.push(`no name: ${el.outerHTML.slice(0, 80)}`);
      }
      if (document.documentElement.scrollWidth > window.innerWidth + 1) out.push(`horizontal overflow: ${document.documentElement.scrollWidth}px`);
      return out;
    }""")
    if AXE.exists():
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("""async () => {
          const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}});
          return r.violations.map(v => `${v.id}: ${v.help} (${v.nodes.length}) ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')}`);
        }""")
        problems += [f"axe {v}" for v in result]
    return problems
