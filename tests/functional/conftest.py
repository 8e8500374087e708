"""Users in every role the dashboard must tell apart, and a small shop with metrics to look at."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from oscar.core.loading import get_model

from oscar_champions.metrics import refresh_metrics
from oscar_champions.models import CustomerMetrics, SavedSegment
from oscar_champions.recommendations import refresh_affinities
from tests.factories import CategoryFactory, CustomerFactory, ProductFactory, place_order, set_champion_flag


@pytest.fixture
def staff(db):
    return CustomerFactory(is_staff=True)


@pytest.fixture
def customer(db):
    return CustomerFactory()


@pytest.fixture
def partner_user(db):
    """A partner's user: dashboard access for their own orders, but not to the customer base."""
    user = CustomerFactory()
    user.user_permissions.add(Permission.objects.get(codename="dashboard_access", content_type__app_label="partner"))
    get_model("partner", "Partner").objects.create(name="Partner").users.add(user)
    return user


@pytest.fixture
def permitted_user(db):
    """Not staff, but given the dedicated permission."""
    user = CustomerFactory()
    user.user_permissions.add(
        Permission.objects.get(codename="access_dashboard", content_type__app_label="oscar_champions")
    )
    return user


@pytest.fixture
def shop(db):
    """Three customers with a few orders, refreshed: one a repeat buyer, one a guest, one long gone."""
    category = CategoryFactory(name="Cafés")
    product = ProductFactory(title="Café especial", categories__category=category)
    ana = CustomerFactory(email="ana@example.com", first_name="Ana", last_name="Souza")
    for days_ago, total in ((200, "120.00"), (90, "80.00"), (10, "150.00")):
        place_order(user=ana, total=total, placed=_days_ago(days_ago), lines=[(product, 2, total)])
    place_order(guest_email="bia@example.com", total="60.00", placed=_days_ago(30), lines=[(product, 1, "60.00")])
    carlos = CustomerFactory(email="carlos@example.com", first_name="=HYPERLINK(\"x\")", last_name="Lima")
    place_order(user=carlos, total="40.00", placed=_days_ago(500), lines=[(product, 1, "40.00")])
    refresh_metrics()
    return {
        "category": category,
        "product": product,
        "ana": CustomerMetrics.objects.get(email="ana@example.com"),
        "segment": SavedSegment.objects.create(name="Big spenders", filters={"revenue_min": ["300"]}),
    }


@pytest.fixture
def store(db):
    """Coffee buyers who also buy grinders, a champion among them, and a newcomer."""
    coffee = CategoryFactory(name="Café")
    names = ["Café em grãos", "Moedor manual", "Caneca", "Filtro", "Chaleira", "Livro"]
    products = [ProductFactory(title=name, categories__category=coffee) for name in names]
    buyers = [CustomerFactory() for _ in range(6)]
    for buyer in buyers:
        place_order(user=buyer, lines=[(products[0], 1, "30.00"), (products[1], 1, "90.00")])
        place_order(user=buyer, lines=[(products[2], 1, "20.00")] + [(products[5], 1, "40.00")] * (buyer != buyers[0]))
    champion = buyers[0]  # who has not bought the book yet
    newcomer = CustomerFactory()
    place_order(user=newcomer, lines=[(products[0], 1, "30.00")])
    refresh_metrics()
    set_champion_flag(CustomerMetrics.objects.filter(user=champion), lifecycle_stage="champions")
    refresh_affinities()
    return {"products": products, "champion": champion, "newcomer": newcomer}


def _days_ago(days):
    return timezone.now() - timedelta(days=days)
