"""Staff walk the Champions dashboard in Chromium, from the login to the report's PDF."""

import csv
import io
import re

import pytest
from pypdf import PdfReader

from oscar_champions.models import CustomerMetrics, SavedSegment
from sandbox.demo.store import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.browser.pages import expect, log_in_to_the_dashboard, log_in_to_the_shop, url
from tests.factories import CustomerFactory

pytestmark = pytest.mark.browser


def live_count(page):
    """The builder's live count as a number, e.g. 42 from "42 customers match"."""
    return int(re.match(r"\d+", page.locator("#live_count").inner_text().strip()).group())


def test_staff_build_save_and_export_a_segment_then_download_the_report(page, demo_store, screenshots):
    log_in_to_the_dashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD)

    # The overview: KPI cards, the lifecycle stages with their actions, the model's status.
    page.goto(url("champions-dashboard:champions-overview"))
    expect(page.locator("h1")).to_have_text("Customer segments")
    expect(page.locator("body")).to_contain_text("Champions")
    expect(page.locator("body")).to_contain_text("Repeat rate")
    screenshots.page(page, "overview", height=1500)

    # The builder: each condition narrows the live count, posted by builder.js as staff type.
    page.get_by_role("link", name="Segment builder").click()
    page.wait_for_load_state()  # builder.js, at the end of the page, listens to the form from then on
    everyone = CustomerMetrics.objects.count()
    expect(page.locator("#live_count")).to_contain_text(f"{everyone} customers match")
    page.fill("input[name=revenue_min]", "500")
    expect(page.locator("#live_count")).not_to_contain_text(f"{everyone} customers")
    big_spenders = live_count(page)
    assert 0 < big_spenders < everyone
    page.fill("input[name=orders_min]", "4")
    expect(page.locator("#live_count")).not_to_contain_text(f"{big_spenders} customer")
    regulars = live_count(page)
    assert 0 < regulars < big_spenders
    assert regulars == CustomerMetrics.objects.filter(revenue__gte=500, orders__gte=4).count()

    # Show the members, then save the conditions as a segment.
    page.get_by_role("button", name="Show members").click()
    expect(page.locator("table")).to_be_visible()
    screenshots.page(page, "builder", height=1700)
    page.fill("input[name=name]", "Regulars who spend")
    page.get_by_role("button", name="Save as a segment").click()
    expect(page.locator(".alert-success")).to_contain_text("Regulars who spend")
    segment = SavedSegment.objects.get(name="Regulars who spend")
    assert segment.filters == {"revenue_min": ["500"], "orders_min": ["4"]}

    # Its members page, and their CSV.
    expect(page.locator("h1")).to_have_text("Regulars who spend")
    expect(page.locator("body")).to_contain_text(f"{regulars} customers match")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert re.fullmatch(r"regulars-who-spend-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    rows = list(csv.reader(io.StringIO(download.path().read_text(encoding="utf-8-sig"))))
    assert rows[0][:3] == ["E-mail", "First name", "Last name"] and "Revenue" in rows[0]
    assert len(rows) == 1 + regulars
    revenue = rows[0].index("Revenue")
    assert all(float(row[revenue]) >= 500 for row in rows[1:])

    # The best-customers report, and its PDF.
    page.get_by_role("link", name="Best customers").click()
    expect(page.locator("h1")).to_contain_text("Best customers")
    first = page.locator(".champions-ranking tr[data-rank='1'] td")
    expect(first.first).to_be_visible()
    best_customer = " ".join(first.nth(2).inner_text().split("\n")[0].split())
    best_revenue = " ".join(first.nth(4).inner_text().split())
    screenshots.page(page, "report", height=1800)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename.startswith("best-customers-") and download.suggested_filename.endswith(".pdf")
    content = download.path().read_bytes()
    reader = PdfReader(io.BytesIO(content))
    text = " ".join(" ".join(page_.extract_text().split()) for page_ in reader.pages)
    assert "Best customers" in text
    assert best_customer in text and best_revenue in text  # the page's number one, in the PDF too
    screenshots.pdf(content, "report-pdf")


def test_a_customer_is_refused(page, live_server):
    customer = CustomerFactory(email="cliente@example.com")
    customer.set_password("secret-password")
    customer.save()
    log_in_to_the_shop(page, "cliente@example.com", "secret-password")
    expect(page.get_by_role("link", name="Logout")).to_be_visible()
    response = page.goto(url("champions-dashboard:champions-overview"))
    assert response.status == 403
    expect(page.locator("body")).not_to_contain_text("Repeat rate")
