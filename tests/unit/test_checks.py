import pytest
from django.apps import apps

from oscar_champions.checks import check_dashboard_apps, check_settings


def error_ids():
    return [error.id for error in check_settings(None)]


def test_the_defaults_pass():
    assert error_ids() == []


@pytest.mark.parametrize(
    "name, value, error",
    [
        ("REVENUE_BASIS", "gross", "oscar_champions.E001"),
        ("RFM_SEGMENTS", [("champions", "5", "5")], "oscar_champions.E002"),
        ("CHAMPION_RULE", "nowhere.Rule", "oscar_champions.E003"),
        ("CHAMPION_RULE", "oscar_champions.segments.lifecycle_stages", "oscar_champions.E004"),
        ("AT_RISK_DAYS", 400, "oscar_champions.E005"),
    ],
)
def test_a_bad_setting_is_reported(settings, name, value, error):
    setattr(settings, f"OSCAR_CHAMPIONS_{name}", value)
    assert error in error_ids()


def test_the_dashboard_without_django_filters_is_reported(monkeypatch):
    assert check_dashboard_apps(None) == []
    # Pretended rather than set: a new INSTALLED_APPS runs every app's ready() again, which Wagtail's apps refuse
    # (they mount their API routers once).
    installed = apps.is_installed
    monkeypatch.setattr(apps, "is_installed", lambda name: name != "django_filters" and installed(name))
    assert [error.id for error in check_dashboard_apps(None)] == ["oscar_champions.E006"]
