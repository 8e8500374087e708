"""Wagtail's admin (the best-customers report, the menu, the product chooser) and the sandbox's Wagtail pages."""

import io
from datetime import date, timedelta

import pytest

pytest.importorskip("wagtail")

from django.contrib.auth.models import Permission  # noqa: E402
from django.urls import reverse  # noqa: E402
from openpyxl import load_workbook  # noqa: E402

from oscar_champions.models import CustomerMetrics  # noqa: E402
from tests.factories import CustomerFactory  # noqa: E402

pytestmark = pytest.mark.django_db

REPORT = "champions-wagtail:champions-best-customers"


def _with_permissions(user, *codenames):
    for codename in codenames:
        app_label, name = codename.split(".")
        user.user_permissions.add(Permission.objects.get(codename=name, content_type__app_label=app_label))
    return user


@pytest.fixture
def editor(db):
    """A Wagtail editor: into Wagtail's admin, but not given the customer dashboard."""
    return _with_permissions(CustomerFactory(), "wagtailadmin.access_admin")


@pytest.fixture
def analyst(db):
    """Into Wagtail's admin and given the customer dashboard, without being staff."""
    return _with_permissions(CustomerFactory(), "wagtailadmin.access_admin", "oscar_champions.access_dashboard")


def _content(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_anonymous_visitors_are_sent_to_the_login(client, shop):
    response = client.get(reverse(REPORT))
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize("query", ["", "?export=csv", "?export=xlsx"])
def test_editors_without_the_permission_are_refused(client, shop, editor, query):
    client.force_login(editor)
    response = client.get(reverse(REPORT) + query)
    # Wagtail answers a refused admin page with a redirect to its dashboard and a message.
    assert response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home")
    assert b"ana@example.com" not in _content(response)
    results = client.get(reverse("champions-wagtail:champions-best-customers-results"))
    assert results.status_code == 302


def test_the_menu_shows_the_report_and_the_dashboard_only_to_permitted_users(client, shop, editor, analyst):
    client.force_login(editor)
    page = client.get(reverse("wagtailadmin_home")).content.decode()
    assert reverse(REPORT) not in page and reverse("champions-dashboard:champions-overview") not in page
    client.force_login(analyst)
    page = client.get(reverse("wagtailadmin_home")).content.decode()
    assert reverse(REPORT) in page
    for name in ("champions-overview", "champions-segment-list", "champions-report"):
        assert reverse(f"champions-dashboard:{name}") in page


def test_the_report_ranks_the_best_customers(client, shop, analyst):
    client.force_login(analyst)
    response = client.get(reverse(REPORT))
    assert response.status_code == 200
    page = response.content.decode()
    # The last 90 days: Ana (150.00, 10 days ago), then the guest Bia (60.00); Carlos bought 500 days ago.
    assert page.index("Ana Souza") < page.index("bia@example.com")
    assert "carlos@example.com" not in page
    assert reverse("champions-dashboard:champions-customer", args=[shop["ana"].pk]) in page
    assert "Download CSV" in page and "Download XLSX" in page
    assert reverse("champions-dashboard:champions-report") in page


def test_staff_see_the_report_like_in_oscars_dashboard(client, shop):
    staff = _with_permissions(CustomerFactory(is_staff=True), "wagtailadmin.access_admin")
    client.force_login(staff)
    assert client.get(reverse(REPORT)).status_code == 200


def test_the_report_filters(client, shop, analyst):
    client.force_login(analyst)
    CustomerMetrics.objects.filter(email="bia@example.com").update(lifecycle_stage="at_risk")
    page = client.get(reverse(REPORT), {"stage": "at_risk"}).content.decode()
    assert "bia@example.com" in page and "Ana Souza" not in page
    page = client.get(reverse(REPORT), {"period": "custom", "start": "2000-01-01", "end": "2100-01-01"})
    assert page.status_code == 200 and "cannot end after today" in page.content.decode()
    results = client.get(reverse("champions-wagtail:champions-best-customers-results"), {"top": "1"})
    assert results.status_code == 200
    assert "Ana Souza" in results.content.decode() and "bia@example.com" not in results.content.decode()


def _since(days):
    return {"period": "custom", "start": str(date.today() - timedelta(days=days)), "end": str(date.today())}


def test_the_downloads_are_the_reports_export(client, shop, analyst):
    client.force_login(analyst)
    response = client.get(reverse(REPORT), {"export": "csv", "rank_by": "orders", **_since(600)})
    assert response["Content-Disposition"].startswith('attachment; filename="best-customers-')
    header, *rows = _content(response).decode().lstrip("\ufeff").strip().splitlines()
    assert header.startswith("Rank,Change,Previous rank,Customer,E-mail,Orders,Revenue")
    assert rows[0].startswith("1,") and "ana@example.com" in rows[0] and len(rows) == 3
    workbook = load_workbook(io.BytesIO(_content(client.get(reverse(REPORT), {"export": "xlsx", **_since(600)}))))
    sheet = [[cell.value for cell in row] for row in workbook.active.iter_rows()]
    assert sheet[0][:3] == ["Rank", "Change", "Previous rank"] and sheet[1][4] == "ana@example.com"


def test_a_download_with_bad_filters_shows_the_errors(client, shop, analyst):
    client.force_login(analyst)
    response = client.get(reverse(REPORT), {"export": "csv", "period": "custom", "start": "2000-01-01"})
    assert response.status_code == 200 and not response.streaming
    assert "needs a start and an end date" in response.content.decode()


def test_a_formula_in_a_name_is_text_in_both_downloads(client, shop, analyst):
    client.force_login(analyst)
    csv_text = _content(client.get(reverse(REPORT), {**_since(600), "export": "csv"})).decode()
    assert "'=HYPERLINK" in csv_text
    workbook = load_workbook(io.BytesIO(_content(client.get(reverse(REPORT), {**_since(600), "export": "xlsx"}))))
    cells = [cell for row in workbook.active.iter_rows() for cell in row if "HYPERLINK" in str(cell.value)]
    assert cells and all(cell.data_type == "s" for cell in cells)


def test_the_product_chooser_searches_products(client, store, editor):
    client.force_login(editor)
    response = client.get(reverse("champions_product_chooser:choose_results"), {"q": "moedor"})
    page = response.content.decode()
    assert response.status_code == 200 and "Moedor manual" in page and "Caneca" not in page


# The sandbox's pages ------------------------------------------------------------------------------------


@pytest.fixture
def pages(store):
    from sandbox.cms.demo import create_demo_pages

    home = create_demo_pages()
    return {"home": home, "campaign": home.get_children().get().specific}


def test_the_campaign_page_shows_champions_and_new_customers_different_content(client, store, pages):
    url = pages["campaign"].url
    client.force_login(store["champion"])
    champion = client.get(url).content.decode()
    assert "20% off the winter collection" in champion and "Your winter picks" in champion
    assert "join our champions" not in champion
    client.force_login(store["newcomer"])
    newcomer = client.get(url).content.decode()
    assert "join our champions" in newcomer
    assert "20% off the winter collection" not in newcomer and "Your winter picks" not in newcomer
    client.logout()
    anonymous = client.get(url).content.decode()
    assert "join our champions" in anonymous and "champions-products" in anonymous  # bought together


def test_the_wagtail_home_and_oscars_home_both_work(client, store, pages):
    assert pages["home"].url == "/en-gb/content/"
    home = client.get(pages["home"].url)
    assert home.status_code == 200 and "champions-products" in home.content.decode()
    assert client.get(reverse("catalogue:index")).status_code == 200
    assert client.get(store["products"][0].get_absolute_url()).status_code == 200


def test_the_demo_pages_are_created_once(store, pages):
    from sandbox.cms.demo import create_demo_pages
    from sandbox.cms.models import CampaignPage, HomePage

    assert create_demo_pages() == pages["home"]
    assert HomePage.objects.count() == 1 and CampaignPage.objects.count() == 1


def test_editors_edit_and_preview_the_pages(client, store, pages):
    admin = CustomerFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    campaign = pages["campaign"]
    edit = client.get(reverse("wagtailadmin_pages:edit", args=[campaign.pk]))
    assert edit.status_code == 200 and "Segment content" in edit.content.decode()
    preview = campaign.make_preview_request(original_request=None)
    html = preview.content.decode()
    assert "Shown to: Champions" in html and "20% off" in html and "join our champions" in html
