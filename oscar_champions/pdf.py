"""The one PDF renderer of the package: a template rendered to HTML, then to PDF by WeasyPrint.

Rendering never touches the network: the only resources WeasyPrint may load are the package's own static
files (``oscar_champions/static/``) and ``data:`` URLs; anything else a template refers to is refused and
left out of the document.
"""

import gc
import mimetypes
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.http import content_disposition_header
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

STATIC_ROOT = Path(__file__).resolve().parent / "static"
#: The URL the package's static files are served under, as ``{% static %}`` writes it in a template.
STATIC_PREFIX = "oscar_champions/"


class PackageStaticFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that serves the package's static files and ``data:`` URLs, and nothing else."""

    def __init__(self):
        # The parent only ever sees data: URLs (see fetch), and they never redirect.
        super().__init__(allowed_protocols=("data",), allow_redirects=False)

    def fetch(self, url, headers=None):
        if url.startswith("data:"):
            return super().fetch(url, headers)
        path = self.resolve(url)
        if path is None:
            # WeasyPrint logs the refusal and renders the document without the resource.
            raise ValueError(f"oscar-champions PDFs do not load {url}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), headers={"Content-Type": content_type})

    @staticmethod
    def resolve(url):
        """The file inside the package's static folder that ``url`` names, or ``None``.

        Accepted: ``file://`` URLs inside that folder, and URLs whose path starts with ``STATIC_URL`` +
        ``oscar_champions/`` (what ``{% static "oscar_champions/..." %}`` writes), whatever their host:
        those are read from the package, never fetched.
        """
        parts = urlsplit(url)
        path = unquote(parts.path)
        if parts.scheme == "file":
            candidate = Path(path)
        else:
            static_url = urlsplit(settings.STATIC_URL or "/static/").path
            if not path.startswith(static_url + STATIC_PREFIX):
                return None
            candidate = STATIC_ROOT / path[len(static_url):]
        candidate = candidate.resolve()
        if not candidate.is_relative_to(STATIC_ROOT) or not candidate.is_file():
            return None
        return candidate


@contextmanager
def cyclic_gc_paused():
    """Pause Python's cyclic garbage collector for the block, when it is on, and turn it back on after.

    Laying a document out creates tens of thousands of short-lived objects, which trigger full collections
    that walk every object of the process (a Django and Oscar process holds some 300,000): 0.3–0.5 s of a
    100-row report's 3 s. Those objects are freed by reference counting when the document is; the
    collector, back on, deals with any cycle later. It is off for the whole process, other threads
    included, for the few seconds a rendering lasts; when another block had already turned it off, it is
    left to that block to turn it back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def render_pdf(template_name, context, request=None):
    """Render ``template_name`` with ``context`` and return the PDF's bytes."""
    base_url = request.build_absolute_uri("/") if request is not None else STATIC_ROOT.as_uri() + "/"
    with cyclic_gc_paused():
        html = render_to_string(template_name, context, request=request)
        return HTML(string=html, base_url=base_url, url_fetcher=PackageStaticFetcher()).write_pdf()


def pdf_response(filename, template_name, context, request=None):
    """A PDF download of ``template_name`` rendered with ``context``."""
    response = HttpResponse(render_pdf(template_name, context, request=request), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
