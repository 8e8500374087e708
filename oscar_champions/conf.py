"""Every setting of oscar-champions, with its default.

Settings are read lazily through ``champions_settings.NAME`` (never at import time), so
``override_settings`` works in tests. A project sets ``OSCAR_CHAMPIONS_<NAME>`` to change one.
"""

from django.conf import settings
from django.core.signals import setting_changed

PREFIX = "OSCAR_CHAMPIONS_"

DEFAULTS = {
    # Order statuses that never count (cancelled orders, refunds...).
    "EXCLUDED_STATUSES": ["Cancelled"],
    # Which amount of an order counts as revenue: "incl_tax", "excl_tax",
    # "incl_tax_without_shipping" or "excl_tax_without_shipping".
    "REVENUE_BASIS": "incl_tax",
    # The currency whose orders are analysed; None means OSCAR_DEFAULT_CURRENCY. Orders in other
    # currencies are left out (and counted in the refresh diagnostics), never summed together.
    "CURRENCY": None,
    # Site ids (channels) whose orders count; None counts every site.
    "SITES": None,
    # The RFM segment map: a list of (segment code, R scores, FM scores); the first row that
    # matches a customer's R score and combined FM score wins. See oscar_champions.rfm.
    "RFM_SEGMENTS": None,
    # Dotted path of the class that decides who is a champion.
    "CHAMPION_RULE": "oscar_champions.segments.RFMChampionRule",
    # Without an order for more than this many days a customer is "At risk" ...
    "AT_RISK_DAYS": 120,
    # ... and after more than this many days "Lost".
    "LOST_DAYS": 365,
    # Update a customer's row (and counted orders) as soon as an order is placed or changes status.
    "INCREMENTAL_UPDATES": True,
    # The predictive model is fitted only with at least this many repeat customers.
    "MIN_REPEAT_CUSTOMERS": 200,
    # When the plain maximum-likelihood fit of the model is degenerate (a history with little visible
    # churn), it is fitted again with a penalty of this weight on the squared logs of its shape
    # parameters, which keeps them finite; 0 leaves such a model unfitted.
    "MODEL_PENALIZER": 0.001,
    # Days of history held out when backtesting the model after a full refresh (0 switches it off).
    "BACKTEST_DAYS": 90,
    # Rows per batch when the refresh writes metrics (on PostgreSQL with psycopg 3 it streams them instead).
    "BATCH_SIZE": 2000,
    # Dotted path of the class that picks a customer's personal recommendations.
    "RECOMMENDATION_STRATEGY": "oscar_champions.recommendations.PersonalPicks",
    # Recommend products the customer already bought (for consumables: coffee, tea, refills).
    "RECOMMEND_PURCHASED": False,
    # Related products kept per product by the refresh (the best K by affinity).
    "AFFINITIES_PER_PRODUCT": 20,
    # Customers who must have bought both products before a pair counts as related.
    "AFFINITY_MIN_CUSTOMERS": 2,
    # Seconds the storefront keeps a customer's recommendations and stage in the cache; a refresh
    # or the customer's new order invalidates them earlier.
    "STOREFRONT_CACHE_TIMEOUT": 3600,
    # Lifecycle stages that get a badge from the champion_badge template tag.
    "BADGE_STAGES": ["champions"],
}


class ChampionsSettings:
    """Attribute access to the settings, with defaults, cached until a setting changes."""

    def __init__(self, defaults):
        self._defaults = defaults
        self._cache = {}

    def __getattr__(self, name):
        if name not in self._defaults:
            raise AttributeError(f"Unknown oscar-champions setting: {name}")
        if name not in self._cache:
            self._cache[name] = getattr(settings, PREFIX + name, self._defaults[name])
        return self._cache[name]

    def reload(self):
        self._cache.clear()


champions_settings = ChampionsSettings(DEFAULTS)


def _reload_settings(*, setting, **kwargs):
    if setting.startswith(PREFIX):
        champions_settings.reload()


setting_changed.connect(_reload_settings)
