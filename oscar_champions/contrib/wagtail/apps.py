from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChampionsWagtailConfig(AppConfig):
    """Segment-aware StreamField blocks and the best-customers report in Wagtail's admin.

    Installed after ``oscar_champions.apps.ChampionsConfig`` and Wagtail's apps; it has no models.
    """

    name = "oscar_champions.contrib.wagtail"
    # Not "wagtail": that would read as Wagtail's own app in messages and clash with any other "wagtail" sub-app.
    label = "oscar_champions_wagtail"
    verbose_name = _("Champions for Wagtail")
