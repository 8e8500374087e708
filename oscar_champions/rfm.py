"""RFM scoring: recency, frequency and monetary scores from 1 to 5, and the R x FM segment map.

Scores are quintiles over the shop's customers. Equal values always get equal scores: a value's
score is ``1 + floor(5 * L / n)``, where ``L`` is how many customers have a strictly worse value and
``n`` how many customers there are. The four thresholds that split the scores are kept, so a single
customer can later be scored against the same distribution (see ``score``).

The segment map reads the R score against the combined FM score, ``FM = ceil((F + M) / 2)``:

====  ================  ================  ================  ================  ================
R     FM 1              FM 2              FM 3              FM 4              FM 5
====  ================  ================  ================  ================  ================
5     New customers     Potential loyal.  Potential loyal.  Champions         Champions
4     Promising         Potential loyal.  Potential loyal.  Loyal             Champions
3     About to sleep    About to sleep    Need attention    Loyal             Loyal
2     Hibernating       Hibernating       At risk           At risk           Can't lose them
1     Lost              Lost              Hibernating       At risk           Can't lose them
====  ================  ================  ================  ================  ================

A shop may replace it with the OSCAR_CHAMPIONS_RFM_SEGMENTS setting: rows of
``(group, R scores, FM scores)`` such as ``("champions", "45", "5")``; the first row that
matches a customer wins, and every one of the 25 cells must be covered.
"""

import numpy as np
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from oscar_champions.conf import champions_settings

SCORES = 5


class RFMGroup(models.TextChoices):
    CHAMPIONS = "champions", pgettext_lazy("RFM group", "Champions")
    LOYAL = "loyal", pgettext_lazy("RFM group", "Loyal")
    POTENTIAL_LOYALISTS = "potential_loyalists", pgettext_lazy("RFM group", "Potential loyalists")
    NEW_CUSTOMERS = "new_customers", pgettext_lazy("RFM group", "New customers")
    PROMISING = "promising", pgettext_lazy("RFM group", "Promising")
    NEED_ATTENTION = "need_attention", pgettext_lazy("RFM group", "Need attention")
    ABOUT_TO_SLEEP = "about_to_sleep", pgettext_lazy("RFM group", "About to sleep")
    AT_RISK = "at_risk", pgettext_lazy("RFM group", "At risk")
    CANT_LOSE_THEM = "cant_lose_them", pgettext_lazy("RFM group", "Can't lose them")
    HIBERNATING = "hibernating", pgettext_lazy("RFM group", "Hibernating")
    LOST = "lost", pgettext_lazy("RFM group", "Lost")


#: What each RFM group means and what to do about it.
RFM_GROUP_ACTIONS = {
    RFMGroup.CHAMPIONS: _("Bought recently, buy often and spend the most. Reward them: early access, "
                          "gifts, a VIP programme; ask for reviews and referrals."),
    RFMGroup.LOYAL: _("Buy regularly and spend well. Offer a loyalty programme and recommend "
                      "higher-value products."),
    RFMGroup.POTENTIAL_LOYALISTS: _("Recent customers with a few orders. Offer membership or a "
                                    "loyalty programme and recommend related products."),
    RFMGroup.NEW_CUSTOMERS: _("Bought for the first time recently. Welcome them and give them a "
                              "reason for the second order."),
    RFMGroup.PROMISING: _("Recent buyers who have not spent much yet. Build awareness with "
                          "recommendations and a small incentive."),
    RFMGroup.NEED_ATTENTION: _("Average recency, frequency and spend. A limited-time offer based "
                               "on their history can reactivate them."),
    RFMGroup.ABOUT_TO_SLEEP: _("Below average and slipping away. Share popular products and a "
                               "discount before you lose them."),
    RFMGroup.AT_RISK: _("Used to buy often and spend well, but not lately. Win them back with "
                        "personalised e-mails and a time-limited offer."),
    RFMGroup.CANT_LOSE_THEM: _("Among your biggest spenders, gone quiet for a long time. Reach out "
                               "personally with your best offer."),
    RFMGroup.HIBERNATING: _("Low spend, long gone. Include them in broad campaigns; do not spend "
                            "much on them."),
    RFMGroup.LOST: _("Lowest recency, frequency and spend. A last-chance campaign; otherwise "
                     "leave them be."),
}

DEFAULT_RFM_SEGMENTS = [
    (RFMGroup.CHAMPIONS, "5", "45"),
    (RFMGroup.CHAMPIONS, "4", "5"),
    (RFMGroup.LOYAL, "4", "4"),
    (RFMGroup.LOYAL, "3", "45"),
    (RFMGroup.NEW_CUSTOMERS, "5", "1"),
    (RFMGroup.PROMISING, "4", "1"),
    (RFMGroup.POTENTIAL_LOYALISTS, "45", "23"),
    (RFMGroup.NEED_ATTENTION, "3", "3"),
    (RFMGroup.ABOUT_TO_SLEEP, "3", "12"),
    (RFMGroup.CANT_LOSE_THEM, "12", "5"),
    (RFMGroup.AT_RISK, "2", "34"),
    (RFMGroup.AT_RISK, "1", "4"),
    (RFMGroup.HIBERNATING, "2", "12"),
    (RFMGroup.HIBERNATING, "1", "3"),
    (RFMGroup.LOST, "1", "12"),
]


def segment_grid():
    """The 5x5 map as an array: ``grid[r - 1, fm - 1]`` is the group code of that cell."""
    rows = champions_settings.RFM_SEGMENTS or DEFAULT_RFM_SEGMENTS
    grid = np.full((SCORES, SCORES), "", dtype=object)
    for group, r_scores, fm_scores in rows:
        if group not in RFMGroup.values:
            raise ImproperlyConfigured(f"OSCAR_CHAMPIONS_RFM_SEGMENTS names an unknown group {group!r}.")
        for r in str(r_scores):
            for fm in str(fm_scores):
                if not grid[int(r) - 1, int(fm) - 1]:
                    grid[int(r) - 1, int(fm) - 1] = str(group)
    if not grid.all():
        raise ImproperlyConfigured("OSCAR_CHAMPIONS_RFM_SEGMENTS must give a group to every R x FM cell.")
    return grid


def thresholds(values):
    """The four values that split ``values`` (higher is better) into quintile scores."""
    values = np.sort(np.asarray(values, dtype=float))
    if not len(values):
        return []
    n = len(values)
    positions = [int(np.ceil(k * n / SCORES)) - 1 for k in range(1, SCORES)]
    return [float(values[max(p, 0)]) for p in positions]


def score(values, cuts):
    """Score ``values`` from 1 to 5 against the ``cuts`` from ``thresholds``: one point more for
    every threshold a value is strictly above."""
    values = np.asarray(values, dtype=float)
    if not len(cuts):
        return np.full(values.shape, SCORES, dtype=np.int16)
    return (1 + np.searchsorted(np.asarray(cuts), values, side="left")).astype(np.int16)


def fm_score(frequency_score, monetary_score):
    """The combined FM score: the mean of F and M, rounded up."""
    return (np.asarray(frequency_score) + np.asarray(monetary_score) + 1) // 2


def rfm_groups(recency_score, frequency_score, monetary_score):
    """The RFM group code of each customer."""
    grid = segment_grid()
    fm = fm_score(frequency_score, monetary_score)
    return grid[np.asarray(recency_score) - 1, fm - 1]
