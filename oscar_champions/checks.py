"""System checks: a misconfigured setting is reported when the project starts, not in a refresh."""

from django.apps import apps
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from oscar_champions import rfm
from oscar_champions.conf import champions_settings
from oscar_champions.customers import REVENUE_BASES
from oscar_champions.segments import ChampionRule


@register()
def check_settings(app_configs, **kwargs):
    errors = []
    if champions_settings.REVENUE_BASIS not in REVENUE_BASES:
        errors.append(Error(
            f"OSCAR_CHAMPIONS_REVENUE_BASIS must be one of {', '.join(REVENUE_BASES)}.", id="oscar_champions.E001"
        ))
    try:
        rfm.segment_grid()
    except (ImproperlyConfigured, ValueError, IndexError, TypeError) as exc:
        errors.append(Error(f"OSCAR_CHAMPIONS_RFM_SEGMENTS is not valid: {exc}", id="oscar_champions.E002"))
    try:
        rule = import_string(champions_settings.CHAMPION_RULE)
    except ImportError as exc:
        errors.append(Error(f"OSCAR_CHAMPIONS_CHAMPION_RULE cannot be imported: {exc}", id="oscar_champions.E003"))
    else:
        if not (isinstance(rule, type) and issubclass(rule, ChampionRule)):
            errors.append(Error(
                "OSCAR_CHAMPIONS_CHAMPION_RULE must name a subclass of oscar_champions.segments.ChampionRule.",
                id="oscar_champions.E004",
            ))
    if not 0 < champions_settings.AT_RISK_DAYS < champions_settings.LOST_DAYS:
        errors.append(Error(
            "OSCAR_CHAMPIONS_AT_RISK_DAYS must be positive and smaller than OSCAR_CHAMPIONS_LOST_DAYS.",
            id="oscar_champions.E005",
        ))
    return errors


@register()
def check_dashboard_apps(app_configs, **kwargs):
    """The dashboard's segment builder renders django-filter's widgets, whose templates live in its app."""
    if apps.is_installed("oscar_champions.dashboard") and not apps.is_installed("django_filters"):
        return [Error(
            "oscar_champions.dashboard needs 'django_filters' in INSTALLED_APPS.", id="oscar_champions.E006"
        )]
    return []
