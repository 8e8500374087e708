"""Every page of the package, read in Brazilian Portuguese: no string of ours left in English, and money and
dates the Brazilian way (R$ 1.234,56; 22/11/2026) on the pages and in the PDF.

How a string counts as left in English: the page is reduced to its visible text (text nodes outside
``<script>`` and ``<style>``, plus the ``title``, ``placeholder``, ``aria-label`` and ``alt`` attributes and the
labels of buttons), and each msgid of our pt_BR catalogue is looked for in it, with its placeholders
(``%(name)s``) matching anything. A msgid is skipped when its translation is the same text (``Total``,
``E-mail``) or when it has fewer than three letters (``R``, ``F``, ``M``). A one-word msgid (``Orders``,
``Edit``) counts only when a whole text node is that word, since a word alone can be a product's or a
customer's name or part of Oscar's own text; a longer msgid counts wherever it appears.
"""

import html.parser
import io
import re
from datetime import timedelta
from pathlib import Path

import polib
import pytest
from django.core.cache import cache
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from oscar.core.loading import get_model
from pypdf import PdfReader

from oscar_champions.dashboard.report_views import BestCustomersReportPDFView
from oscar_champions.dashboard.views import _members_label
from oscar_champions.metrics import refresh_metrics
from oscar_champions.models import CustomerMetrics, RefreshRun
from oscar_champions.recommendations import refresh_affinities
from oscar_champions.segments import LifecycleStage
from tests.factories import CustomerFactory, ProductFactory, place_order

CATALOGUE = Path(__file__).resolve().parents[2] / "oscar_champions" / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"
LANGUAGE = "pt-br"

Basket = get_model("basket", "Basket")


class VisibleText(html.parser.HTMLParser):
    """The text a person reads on a page, one item per text node or readable attribute."""

    HIDDEN = {"script", "style"}
    READABLE_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.nodes = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self._hidden += 1
        attrs = dict(attrs)
        for name in self.READABLE_ATTRIBUTES & attrs.keys():
            self._add(attrs[name])
        if tag == "input" and attrs.get("type") in ("submit", "button"):
            self._add(attrs.get("value"))

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self._add(data)

    def _add(self, text):
        text = " ".join((text or "").replace("\xa0", " ").split())
        if text:
            self.nodes.append(text)


def visible_text(content):
    parser = VisibleText()
    parser.feed(content)
    return parser.nodes


def _pattern(msgid):
    """A regex for how ``msgid`` reads once rendered: tags dropped, a placeholder matching a short run of text."""
    text = " ".join(re.sub(r"<[^>]+>", " ", msgid).split())
    pieces = re.split(r"(%\(\w+\)[sd]|%[sd])", text)
    return "".join(
        r".{1,80}?" if index % 2 else re.sub(r"(\\ )+", r"\\s+", re.escape(piece))
        for index, piece in enumerate(pieces)
    )


def _letters(text):
    return sum(character.isalpha() for character in re.sub(r"%\(\w+\)[sd]", "", text))


def english_msgids():
    """``(msgid, whole_node_only, regex)`` for each msgid whose Brazilian translation differs from it."""
    found = []
    for entry in polib.pofile(str(CATALOGUE)):
        if entry.obsolete:
            continue
        pairs = [(entry.msgid, entry.msgstr)]
        if entry.msgid_plural:
            translations = list(entry.msgstr_plural.values())
            pairs = [(entry.msgid, translations[0]), (entry.msgid_plural, translations[-1])]
        for msgid, msgstr in pairs:
            if msgid == msgstr or _letters(msgid) < 3:
                continue
            one_word = len(re.sub(r"%\(\w+\)[sd]", "", msgid).split()) == 1
            found.append((msgid, one_word, re.compile(_pattern(msgid))))
    return found


def untranslated(nodes):
    """The msgids of our catalogue that appear in English among the text ``nodes``."""
    text = " ".join(nodes)
    left = []
    for msgid, whole_node_only, pattern in english_msgids():
        if whole_node_only:
            if any(pattern.fullmatch(node) for node in nodes):
                left.append(msgid)
        elif re.search(r"(?<!\w)" + pattern.pattern + r"(?!\w)", text):
            left.append(msgid)
    return left


@pytest.fixture
def store(shop):
    """The functional tests' shop, plus a big spender who is a champion, and a grinder bought with the coffee."""
    cache.clear()
    product = shop["product"]
    grinder = ProductFactory(title="Moedor manual", categories__category=shop["category"])
    for buyer in (CustomerFactory(), CustomerFactory()):
        place_order(user=buyer, lines=[(product, 1, "30.00"), (grinder, 1, "90.00")])
    dora = CustomerFactory(email="dora@example.com", first_name="Dora", last_name="Reis")
    dora.set_password("senha-da-dora")
    dora.save()
    placed = timezone.now() - timedelta(days=20)
    place_order(user=dora, total="1234.56", placed=placed, lines=[(product, 3, "1234.56")])
    place_order(user=shop["ana"].user, total="25.00", placed=placed, lines=[(product, 1, "25.00")])
    refresh_metrics()
    refresh_affinities()
    CustomerMetrics.objects.filter(email="dora@example.com").update(
        lifecycle_stage=LifecycleStage.CHAMPIONS, is_champion=True
    )
    return {**shop, "dora": CustomerMetrics.objects.get(email="dora@example.com"), "dora_user": dora,
            "placed": placed}


def url(name, **kwargs):
    with translation.override(LANGUAGE):
        return reverse(name, kwargs=kwargs or None)


def dashboard_pages(store):
    """``(what, URL)`` of every page staff see, in pt-BR."""
    segment, dora = store["segment"], store["dora"]
    named = "champions-dashboard:"
    return [
        ("overview", url(named + "champions-overview")),
        ("builder", url(named + "champions-builder") + "?revenue_min=1&orders_min=1"),
        ("count", url(named + "champions-count") + "?revenue_min=1"),
        ("segment list", url(named + "champions-segment-list")),
        ("segment", url(named + "champions-segment-detail", pk=segment.pk)),
        ("segment edit", url(named + "champions-segment-update", pk=segment.pk)),
        ("segment delete", url(named + "champions-segment-delete", pk=segment.pk)),
        ("segment offer", url(named + "champions-segment-offer", pk=segment.pk)),
        ("stage offer", url(named + "champions-stage-offer", stage="champions")),
        ("customer card", url(named + "champions-customer", pk=dora.pk)),
        ("report", url(named + "champions-report") + "?period=last_90_days"),
        ("Oscar's reports", url("dashboard:reports-index") + f"?report_type=champions_best_customers&date_from="
         f"{timezone.localdate() - timedelta(days=90)}&date_to={timezone.localdate()}"),
        ("Oscar's customer page", url("dashboard:user-detail", pk=dora.user_id)),
    ]


def test_every_dashboard_page_is_in_brazilian_portuguese(client, admin_user, store):
    client.force_login(admin_user)  # Oscar's reports dashboard asks for more than being staff
    left = {}
    for what, address in dashboard_pages(store):
        response = client.get(address)
        assert response.status_code == 200, (what, response.status_code)
        content = response.content.decode()
        if response["Content-Type"].startswith("application/json"):
            content = response.json()["label"]
        left[what] = untranslated(visible_text(content))
    assert {what: msgids for what, msgids in left.items() if msgids} == {}


def test_the_exports_are_in_brazilian_portuguese(client, staff, store):
    client.force_login(staff)
    for address in (
        url("champions-dashboard:champions-segment-export", pk=store["segment"].pk),
        url("champions-dashboard:champions-report-csv") + "?period=last_90_days",
    ):
        response = client.get(address)
        header = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()[0]
        assert untranslated(header.split(",")) == [], address


def test_the_storefront_is_in_brazilian_portuguese(client, store):
    client.force_login(store["dora_user"])
    product = store["product"]
    client.post(url("basket:add", pk=product.pk), {"quantity": 1})
    pages = [
        ("home", url("catalogue:index")),
        ("product", url("catalogue:detail", product_slug=product.slug, pk=product.pk)),
        ("basket", url("basket:summary")),
        ("account", url("customer:profile-view")),
    ]
    left, seen = {}, {}
    for what, address in pages:
        response = client.get(address)
        assert response.status_code == 200, what
        nodes = visible_text(response.content.decode())
        left[what] = untranslated(nodes)
        seen[what] = nodes
    assert {what: msgids for what, msgids in left.items() if msgids} == {}
    # Our rows and the badge were there to be read.
    assert "Escolhidos para você" in seen["home"] and "Campeões" in seen["home"]
    assert "Quem comprou este produto também comprou" in seen["product"]
    assert "Combina com a sua cesta" in seen["basket"]


def test_money_and_dates_are_brazilian_on_the_pages_and_in_the_pdf(client, staff, store):
    client.force_login(staff)
    day = timezone.localdate(store["placed"]).strftime("%d/%m/%Y")
    card = " ".join(visible_text(client.get(url("champions-dashboard:champions-customer", pk=store["dora"].pk))
                                 .content.decode()))
    assert "R$ 1.234,56" in card and day in card

    report = url("champions-dashboard:champions-report") + "?period=last_90_days"
    page = " ".join(visible_text(client.get(report).content.decode()))
    assert "R$ 1.234,56" in page and day in page

    response = client.get(url("champions-dashboard:champions-report-pdf") + "?period=last_90_days")
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages]
    text = " ".join(" ".join(page.replace("\xa0", " ").split()) for page in pages)
    assert "R$ 1.234,56" in text and day in text
    assert "Melhores clientes" in text
    assert untranslated(pages) == []


def test_counts_are_grouped_the_brazilian_way(client, staff, store):
    RefreshRun.objects.update(customers=12345, orders_counted=1002656)
    CustomerMetrics.objects.filter(pk=store["dora"].pk).update(orders=1234)
    client.force_login(staff)

    page = " ".join(visible_text(client.get(url("champions-dashboard:champions-overview")).content.decode()))
    card = " ".join(visible_text(client.get(url("champions-dashboard:champions-customer", pk=store["dora"].pk))
                                 .content.decode()))

    assert "12.345 clientes a partir de 1.002.656 pedidos" in page
    assert "1.234 (" in card  # the customer card's orders
    with translation.override(LANGUAGE):  # the builder's live count
        assert _members_label(12345) == "12.345 clientes encontrados"


def test_the_pdf_template_is_in_brazilian_portuguese(rf, staff, store):
    """The PDF's HTML, whose text nodes the PDF's extracted text no longer separates."""
    view = BestCustomersReportPDFView()
    view.request = rf.get("/", {"period": "last_90_days"})
    view.request.user = staff
    with translation.override(LANGUAGE):
        form = view.get_form()
        assert form.is_valid()
        content = render_to_string(view.pdf_template_name, view.report_context(form), request=view.request)
    assert untranslated(visible_text(content)) == []
