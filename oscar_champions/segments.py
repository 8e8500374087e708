"""Lifecycle stages as a shop owner thinks of them, and the rule that picks the champions.

The stages, in the order they are decided (the first that applies wins):

* **Lost** — no order for more than ``LOST_DAYS`` days (default 365).
* **At risk** — no order for more than ``AT_RISK_DAYS`` days (default 120).
* **Champions** — chosen by the champion rule (by default the RFM "Champions" group).
* **Loyal** — two orders or more, and still buying.
* **New** — one order so far, and still within the at-risk window.
"""

from abc import ABC, abstractmethod

import numpy as np
from django.db import models
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from oscar_champions.conf import champions_settings
from oscar_champions.rfm import RFMGroup


class LifecycleStage(models.TextChoices):
    CHAMPIONS = "champions", pgettext_lazy("lifecycle stage", "Champions")
    LOYAL = "loyal", pgettext_lazy("lifecycle stage", "Loyal")
    NEW = "new", pgettext_lazy("lifecycle stage", "New")
    AT_RISK = "at_risk", pgettext_lazy("lifecycle stage", "At risk")
    LOST = "lost", pgettext_lazy("lifecycle stage", "Lost")


#: What each stage means, in plain words.
STAGE_DEFINITIONS = {
    LifecycleStage.CHAMPIONS: _("Your best customers: they bought recently, buy often and spend the most."),
    LifecycleStage.LOYAL: _("Customers who came back for more and are still buying."),
    LifecycleStage.NEW: _("Customers with one order so far, placed recently."),
    LifecycleStage.AT_RISK: _("Customers who have not bought for a while and may be slipping away."),
    LifecycleStage.LOST: _("Customers who have not bought for a long time."),
}

#: What to do about each stage.
STAGE_ACTIONS = {
    LifecycleStage.CHAMPIONS: _("Reward them: early access to new products, gifts and exclusive offers. "
                                "Ask for reviews and referrals."),
    LifecycleStage.LOYAL: _("Keep them close: a loyalty programme and recommendations of products "
                            "that go with what they buy."),
    LifecycleStage.NEW: _("Give them a reason for the second order: a welcome series and a coupon "
                          "for their next purchase."),
    LifecycleStage.AT_RISK: _("Win them back before it is too late: a personal message and a "
                              "time-limited offer."),
    LifecycleStage.LOST: _("A last-chance campaign with your best offer; if they do not answer, "
                           "stop spending on them."),
}


def lifecycle_stages(days_since_last_order, orders, is_champion):
    """The lifecycle stage code of each customer (see the module's docstring for the rules)."""
    days = np.asarray(days_since_last_order)
    return np.select(
        [
            days > champions_settings.LOST_DAYS,
            days > champions_settings.AT_RISK_DAYS,
            np.asarray(is_champion, dtype=bool),
            np.asarray(orders) >= 2,
        ],
        [LifecycleStage.LOST.value, LifecycleStage.AT_RISK.value, LifecycleStage.CHAMPIONS.value,
         LifecycleStage.LOYAL.value],
        default=LifecycleStage.NEW.value,
    ).astype(object)


class ChampionRule(ABC):
    """Decides who the champions are.

    ``fit`` sees every customer in a full refresh and returns a JSON-serialisable state (e.g. a
    cut-off); ``select`` applies the rule to any customers with that state, so an incremental
    update judges one customer the way the last full refresh did. ``columns`` maps the metric names
    of ``CustomerMetrics`` (``revenue``, ``orders``, ``rfm_group``, ``predicted_value_365d``, ...)
    to NumPy arrays.
    """

    def fit(self, columns):
        return {}

    @abstractmethod
    def select(self, columns, state):
        """Return a boolean array: which of these customers are champions."""


class RFMChampionRule(ChampionRule):
    """Champions are the customers of the RFM "Champions" group."""

    def select(self, columns, state):
        return np.asarray(columns["rfm_group"]) == RFMGroup.CHAMPIONS.value


class TopPredictedValueRule(ChampionRule):
    """Champions are the share of customers with the highest predicted 12-month value.

    Falls back to the RFM rule when the model could not be fitted.
    """

    share = 0.05

    def fit(self, columns):
        values = columns.get("predicted_value_365d")
        if values is None or not np.isfinite(values).any():
            return {}
        return {"cutoff": float(np.nanquantile(values, 1 - self.share))}

    def select(self, columns, state):
        if "cutoff" not in state:
            return RFMChampionRule().select(columns, state)
        values = np.nan_to_num(np.asarray(columns["predicted_value_365d"], dtype=float), nan=-np.inf)
        return values >= state["cutoff"]


def champion_rule():
    """The champion rule chosen by the CHAMPION_RULE setting."""
    return import_string(champions_settings.CHAMPION_RULE)()
