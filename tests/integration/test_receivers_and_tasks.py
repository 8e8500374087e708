from datetime import date

import pytest
from django.core.management import CommandError, call_command
from oscar.apps.order.signals import order_placed, order_status_changed

from oscar_champions.metrics import refresh_metrics
from oscar_champions.models import CustomerMetrics, RefreshRun
from oscar_champions.tasks import refresh_metrics_task
from tests.factories import CustomerFactory, place_order

pytestmark = pytest.mark.django_db


def place_and_signal(**kwargs):
    order = place_order(**kwargs)
    order_placed.send(sender=None, order=order, user=order.user)
    return order


def test_placing_an_order_updates_the_customer_at_once(django_capture_on_commit_callbacks):
    ana = CustomerFactory(email="ana@example.com")
    place_order(user=ana, total="60.00", placed=date(2026, 1, 10))
    refresh_metrics()

    with django_capture_on_commit_callbacks(execute=True):
        place_and_signal(user=ana, total="40.00")
        place_and_signal(guest_email="new@example.com", total="25.00")

    assert CustomerMetrics.objects.get(key="ana@example.com").orders == 2
    assert CustomerMetrics.objects.get(key="new@example.com").orders == 1


def test_a_cancelled_order_is_taken_out_when_its_status_changes(django_capture_on_commit_callbacks):
    ana = CustomerFactory(email="ana@example.com")
    place_order(user=ana, total="60.00", placed=date(2026, 1, 10))
    order = place_order(user=ana, total="40.00", placed=date(2026, 2, 10), status="Pending")
    refresh_metrics()

    with django_capture_on_commit_callbacks(execute=True):
        order.set_status("Cancelled")

    assert CustomerMetrics.objects.get(key="ana@example.com").orders == 1
    assert order_status_changed.has_listeners()


def test_incremental_updates_can_be_switched_off(settings, django_capture_on_commit_callbacks):
    settings.OSCAR_CHAMPIONS_INCREMENTAL_UPDATES = False
    ana = CustomerFactory(email="ana@example.com")
    place_order(user=ana, total="60.00", placed=date(2026, 1, 10))
    refresh_metrics()

    with django_capture_on_commit_callbacks(execute=True):
        place_and_signal(user=ana, total="40.00")

    assert CustomerMetrics.objects.get(key="ana@example.com").orders == 1


def test_an_update_that_fails_never_breaks_checkout(monkeypatch, django_capture_on_commit_callbacks, caplog):
    refresh_metrics()
    monkeypatch.setattr("oscar_champions.metrics.update_customer", lambda *a, **k: 1 / 0)
    with django_capture_on_commit_callbacks(execute=True):
        place_and_signal(guest_email="new@example.com", total="25.00")
    assert "Could not update the customer metrics" in caplog.text


def test_the_refresh_runs_as_a_background_task(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    place_order(guest_email="new@example.com", total="25.00", placed=date(2026, 1, 10))
    result = refresh_metrics_task.enqueue(as_of="2026-06-30T23:59:00+00:00")
    run = RefreshRun.objects.get(pk=result.return_value)
    assert run.status == RefreshRun.Status.SUCCEEDED
    assert run.customers == 1


def test_the_command_refreshes_as_of_a_date_and_rejects_bad_dates(capsys):
    place_order(guest_email="old@example.com", total="25.00", placed=date(2026, 1, 10))
    place_order(guest_email="later@example.com", total="25.00", placed=date(2026, 3, 10))
    call_command("champions_refresh", "--as-of", "2026-02-01")
    assert list(CustomerMetrics.objects.values_list("key", flat=True)) == ["old@example.com"]
    assert "model was not fitted" in capsys.readouterr().out
    assert "1 customers have ordered more than once" not in RefreshRun.objects.latest().model_explanation
    assert "0 customers have ordered more than once" in RefreshRun.objects.latest().model_explanation
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("champions_refresh", "--as-of", "2023-02-30")
