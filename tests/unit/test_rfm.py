import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import strategies as st

from oscar_champions import rfm
from oscar_champions.rfm import RFMGroup


def scores(values):
    return list(rfm.score(values, rfm.thresholds(values)))


def test_distinct_values_split_into_quintiles():
    assert scores(list(range(10))) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_equal_values_always_get_equal_scores():
    # Six one-order customers cannot be split: all get the lowest score.
    assert scores([1, 1, 1, 1, 1, 1, 2, 3, 5, 8]) == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]


def test_scores_do_not_depend_on_the_order_of_customers():
    values = [5, 3, 3, 9, 1, 3, 7]
    reordered = [values[i] for i in (3, 0, 6, 1, 5, 4, 2)]
    assert dict(zip(values, scores(values))) == dict(zip(reordered, scores(reordered)))


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=200))
def test_scores_follow_the_min_rank_formula(values):
    n = len(values)
    expected = [min(5, 1 + (5 * sum(other < v for other in values)) // n) for v in values]
    assert scores(values) == expected


def test_a_new_value_is_scored_against_the_stored_thresholds():
    cuts = rfm.thresholds([10, 20, 30, 40, 50])
    assert list(rfm.score([5, 25, 1000], cuts)) == [1, 3, 5]


def test_a_single_customer_is_scored_lowest():
    assert scores([42]) == [1]


def test_default_grid_covers_every_cell_with_the_documented_groups():
    grid = rfm.segment_grid()
    assert grid[4, 4] == grid[4, 3] == grid[3, 4] == RFMGroup.CHAMPIONS
    assert grid[4, 0] == RFMGroup.NEW_CUSTOMERS
    assert grid[0, 0] == RFMGroup.LOST
    assert grid[0, 4] == grid[1, 4] == RFMGroup.CANT_LOSE_THEM
    assert set(grid.flat) == set(RFMGroup.values)


def test_groups_combine_frequency_and_monetary_scores():
    groups = rfm.rfm_groups(np.array([5, 5, 1]), np.array([5, 4, 1]), np.array([4, 3, 2]))
    assert list(groups) == [RFMGroup.CHAMPIONS, RFMGroup.CHAMPIONS, RFMGroup.LOST]


def test_a_shop_can_override_the_grid(settings):
    settings.OSCAR_CHAMPIONS_RFM_SEGMENTS = [("champions", "5", "5"), ("loyal", "12345", "12345")]
    grid = rfm.segment_grid()
    assert grid[4, 4] == "champions"
    assert grid[4, 3] == "loyal"


@pytest.mark.parametrize(
    "rows",
    [[("champions", "5", "5")], [("vips", "12345", "12345")]],
    ids=["cells left without a group", "unknown group"],
)
def test_a_broken_grid_is_reported(settings, rows):
    settings.OSCAR_CHAMPIONS_RFM_SEGMENTS = rows
    with pytest.raises(ImproperlyConfigured):
        rfm.segment_grid()
