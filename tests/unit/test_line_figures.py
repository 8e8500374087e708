"""The figures of the lines of a full refresh on PostgreSQL, grouped by NumPy, against plain Python."""

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oscar_champions.metrics import line_figures, sum_by_pair

#: Random lines: (customer, product, quantity, spend in cents); customers negative like guests' ids too, product
#: 0 for a deleted one.
lines = st.lists(
    st.tuples(st.integers(-4, 4), st.integers(0, 6), st.integers(1, 3), st.sampled_from([0, 500, 1000, 1500])),
    max_size=40,
)
#: Random categories of the products: (product, category).
categories = st.lists(st.tuples(st.integers(1, 6), st.integers(1, 4)), max_size=12)


def reference(customers, rows, product_categories):
    """The figures by their definition: items; products bought; categories bought from; the category most
    spent on (a product's spend counts in each of its categories), the lowest id on a tie."""
    figures = {name: [] for name in ("items", "distinct_products", "distinct_categories", "favourite_category_id")}
    for customer in customers:
        theirs = [row for row in rows if row[0] == customer]
        spend = defaultdict(int)
        for _, product, _, cents in theirs:
            for category_product, category in product_categories:
                if category_product == product:
                    spend[category] += cents
        figures["items"].append(sum(quantity for _, _, quantity, _ in theirs))
        figures["distinct_products"].append(len({product for _, product, _, _ in theirs if product}))
        figures["distinct_categories"].append(len(spend))
        favourite = min(spend, key=lambda category: (-spend[category], category)) if spend else None
        figures["favourite_category_id"].append(favourite)
    return figures


def arrays(rows, width):
    return [np.array([row[i] for row in rows], dtype=np.int64) for i in range(width)]


@given(lines, categories, st.randoms())
def test_line_figures_follow_their_definition(rows, product_categories, random):
    customers = sorted({customer for customer, *_ in rows} | {9})  # 9 bought nothing
    random.shuffle(customers)
    # Each customer's items and spend per product, as the lines give them (customers by rank, as the refresh).
    line_customers, products, quantities, cents = arrays(rows, 4)
    ids, ranks = np.unique(line_customers, return_inverse=True)
    ranks, products, items, spend = sum_by_pair([ranks, products, quantities, cents])
    purchases = (ids[ranks], products, items, spend)

    figures = line_figures(np.array(customers, dtype=np.int64), purchases, arrays(product_categories, 2))

    expected = reference(customers, rows, product_categories)
    assert {name: list(np.asarray(values).tolist()) for name, values in figures.items()} == expected


def test_sum_by_pair_sums_each_pair_once_in_order():
    columns = [np.array([2, 0, 2, 0]), np.array([5, 7, 5, 1]), np.array([1, 2, 3, 4])]
    first, second, total = sum_by_pair(columns)

    assert (first.tolist(), second.tolist(), total.tolist()) == ([0, 0, 2], [1, 7, 5], [4, 2, 4])
    assert columns == []  # let go


def test_sum_by_pair_refuses_pairs_beyond_64_bit_integers():
    with pytest.raises(OverflowError):
        sum_by_pair([np.array([0, 2**40]), np.array([1, 2**30]), np.array([1, 1])])
