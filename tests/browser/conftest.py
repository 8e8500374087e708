"""A real browser against the sandbox: Debian's Chromium driven by Playwright, the shop served by live_server.

Where Playwright or Chromium is missing the browser tests skip and say why, so ``make test`` passes on a
newcomer's machine. CI sets ``CHAMPIONS_BROWSER_TESTS=required``, which turns that skip into a failure: CI
cannot silently skip them.

With ``CHAMPIONS_SCREENSHOTS=docs/screenshots`` the tests also save the README's screenshots there (the PDF's
first page through ``pdftoppm``); without it they write nothing.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.core.management import call_command

from oscar_champions.refresh import refresh_everything

CHROMIUM = Path(os.environ.get("CHAMPIONS_CHROMIUM", "/usr/bin/chromium"))
#: Headless, and nothing that phones home: the closed network here refuses Chromium's own connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
#: The screenshots go to the repository's docs, whatever the directory pytest runs from.
REPOSITORY = Path(__file__).resolve().parents[2]
#: A small demo store: enough customers for every stage and a fitted model, built in seconds.
DEMO_STORE = ("--customers", "400", "--orders", "2600", "--products", "60", "--seed", "11")


def _missing_browser():
    """Why the browser tests cannot run here, or ``None``."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the session."""
    reason = _missing_browser()
    if reason:
        if os.environ.get("CHAMPIONS_BROWSER_TESTS") == "required":
            pytest.fail(f"Browser tests are required here, but {reason}.")
        pytest.skip(f"Browser tests need Playwright and Chromium: {reason}.")
    from playwright.sync_api import expect, sync_playwright

    # A loaded CI machine may take more than the 5 s Playwright waits by default for a page to settle.
    expect.set_options(timeout=15_000)

    # Playwright's synchronous API keeps an event loop running in this thread, and Django refuses ORM
    # calls from a thread with a running loop; the tests' own queries are plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (no cookies) in English, whose downloads are kept."""
    context = browser.new_context(
        base_url=live_server.url, viewport=VIEWPORT, locale="en-GB", accept_downloads=True
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def demo_store(live_server, settings):
    """The sandbox's demo store (small), refreshed as ``make demo`` does it."""
    settings.LANGUAGE_CODE = "en-gb"
    call_command("champions_demo", *DEMO_STORE, verbosity=0)  # which indexes the catalogue for search
    refresh_everything()
    yield
    # The next test's database starts empty; so must the search index.
    call_command("clear_index", interactive=False, verbosity=0)


class Screenshots:
    """Saves the README's screenshots when ``CHAMPIONS_SCREENSHOTS`` names a folder; otherwise does nothing."""

    def __init__(self, folder):
        self.folder = REPOSITORY / folder if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def page(self, page, name, height=None):
        """The page from the top, ``height`` pixels of it (the whole page if it is shorter; the window if None)."""
        if not self.folder:
            return
        path = self.folder / f"{name}.png"
        if height is None:
            page.screenshot(path=path)
        else:
            height = min(height, page.evaluate("document.documentElement.scrollHeight"))
            clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height}
            page.screenshot(path=path, full_page=True, clip=clip)
        self.shrink(path)

    def pdf(self, content, name, width=VIEWPORT["width"]):
        """The PDF's first page as a PNG ``width`` pixels wide (needs poppler's ``pdftoppm``)."""
        if not self.folder:
            return
        if not shutil.which("pdftoppm"):
            pytest.fail("CHAMPIONS_SCREENSHOTS needs pdftoppm for the PDF (apt-get install poppler-utils)")
        with tempfile.TemporaryDirectory() as scratch:
            source = Path(scratch) / "report.pdf"
            source.write_bytes(content)
            subprocess.run(
                ["pdftoppm", "-png", "-singlefile", "-f", "1", "-l", "1", "-scale-to-x", str(width),
                 "-scale-to-y", "-1", str(source), str(self.folder / name)],
                check=True,
            )
        self.shrink(self.folder / f"{name}.png")

    @staticmethod
    def shrink(path):
        """256 colours are plenty for a screenshot of a page, and make the PNG a fraction of the size."""
        from PIL import Image

        with Image.open(path) as image:
            smaller = image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
        smaller.save(path, optimize=True)


@pytest.fixture(scope="session")
def screenshots():
    return Screenshots(os.environ.get("CHAMPIONS_SCREENSHOTS"))
