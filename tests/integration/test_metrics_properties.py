"""The set-based refresh agrees with a plain Python reference on random order histories."""

from datetime import datetime, timedelta
from decimal import Decimal as D

from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from oscar_champions.metrics import refresh_metrics
from oscar_champions.models import CustomerMetrics
from tests.factories import CustomerFactory, place_order

AS_OF = timezone.make_aware(datetime(2026, 11, 22, 23, 0))

order = st.tuples(
    st.integers(min_value=0, max_value=900),  # days before AS_OF
    st.decimals(min_value=D("0.01"), max_value=D("999.99"), places=2),
    st.sampled_from(["Complete", "Complete", "Pending", "Cancelled"]),
    st.booleans(),  # placed as a guest with the customer's e-mail
)
histories = st.lists(st.lists(order, min_size=1, max_size=6), min_size=1, max_size=8)


def reference(history):
    """What the metrics of each customer should be, computed the obvious way."""
    expected = {}
    for n, orders in enumerate(history):
        counted = [(days, amount) for days, amount, status, _ in orders if status != "Cancelled"]
        if not counted:
            continue
        placed = sorted(AS_OF - timedelta(days=days, hours=1) for days, _ in counted)
        revenue = sum(amount for _, amount in counted)
        expected[f"customer{n}@example.com"] = {
            "orders": len(counted),
            "revenue": revenue,
            "first_order_at": placed[0],
            "last_order_at": placed[-1],
            "days_since_last_order": (AS_OF - placed[-1]).days,
            "average_days_between_orders": (
                (placed[-1] - placed[0]).total_seconds() / 86400 / (len(counted) - 1) if len(counted) > 1 else None
            ),
        }
    for field, score in (("orders", "frequency_score"), ("revenue", "monetary_score")):
        values = [row[field] for row in expected.values()]
        for row in expected.values():
            below = sum(other < row[field] for other in values)
            row[score] = min(5, 1 + 5 * below // len(values))
    return expected


class RefreshAgreesWithReference(TestCase):
    @settings(max_examples=15, deadline=None)
    @given(histories)
    def test_refresh_matches_reference(self, history):
        for n, orders in enumerate(history):
            user = CustomerFactory(email=f"customer{n}@example.com")
            for days, amount, status, as_guest in orders:
                place_order(
                    user=None if as_guest else user,
                    guest_email=f" Customer{n}@Example.com" if as_guest else "",
                    total=amount,
                    status=status,
                    placed=AS_OF - timedelta(days=days, hours=1),
                )
        refresh_metrics(as_of=AS_OF)

        expected = reference(history)
        rows = {row.key: row for row in CustomerMetrics.objects.all()}
        assert set(rows) == set(expected)
        for key, fields in expected.items():
            for field, value in fields.items():
                actual = getattr(rows[key], field)
                if field == "average_days_between_orders" and value is not None:
                    assert abs(actual - value) < 1e-6, (key, field)
                else:
                    assert actual == value, (key, field, actual, value)
