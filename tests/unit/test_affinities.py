"""The pair count and the bestseller lists of the recommendations, against plain Python on random purchases."""

from collections import Counter
from itertools import combinations
from math import sqrt
from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from oscar_champions.recommendations import Purchases, bestseller_lists, related_products

#: Random purchases: (customer, product) pairs, customers negative like guests' ids too.
purchases = st.sets(st.tuples(st.integers(-6, 6), st.integers(1, 7)), max_size=60)


def _arrays(pairs):
    pairs = sorted(pairs)
    return np.array([c for c, _ in pairs], dtype=np.int64), np.array([p for _, p in pairs], dtype=np.int64)


def reference_related(pairs, minimum, per_product):
    baskets = {}
    for customer, product in pairs:
        baskets.setdefault(customer, set()).add(product)
    buyers = Counter(product for _, product in pairs)
    together = Counter(pair for basket in baskets.values() for pair in combinations(sorted(basket), 2))
    rows = []
    for (a, b), count in together.items():
        if count >= minimum:
            score = count / sqrt(buyers[a] * buyers[b])
            rows += [(a, b, score, count), (b, a, score, count)]
    rows.sort(key=lambda row: (row[0], -round(row[2], 12), -row[3], row[1]))
    ranked, position = [], Counter()
    for product, related, score, count in rows:
        position[product] += 1
        if position[product] <= per_product:
            ranked.append((product, related, score, count, position[product]))
    return ranked


@settings(max_examples=150, deadline=None)
@given(purchases, st.integers(1, 3), st.integers(1, 4), st.sampled_from([1, 20, 10_000_000]))
def test_related_products_equal_a_plain_count(pairs, minimum, per_product, block):
    # Counted a few products at a time (a block of pairs as small as one product's), or all at once.
    with patch("oscar_champions.recommendations.PAIR_BLOCK", block):
        columns = related_products(Purchases(*_arrays(pairs), []), minimum, per_product)
    got = [(int(p), int(r), float(s), int(t), int(k)) for p, r, s, t, k in zip(*columns)]
    expected = reference_related(pairs, minimum, per_product)
    assert [row[:2] + row[3:] for row in got] == [row[:2] + row[3:] for row in expected]
    assert np.allclose([row[2] for row in got], [row[2] for row in expected])


@settings(max_examples=100, deadline=None)
@given(purchases, st.sets(st.integers(-6, 6)), st.integers(1, 4))
def test_bestseller_lists_equal_a_plain_count(pairs, champions, size):
    customers, items = _arrays(pairs)
    # Category 10 holds products 1-3, category 20 products 3-9 (some never bought).
    category_items = (np.array([10, 10, 10, 20, 20, 20], dtype=np.int64), np.array([1, 2, 3, 3, 4, 9], dtype=np.int64))
    got = list(bestseller_lists(Purchases(customers, items, sorted(champions)), category_items, size))

    def ranked(kind, category, counts):
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:size]
        return [(kind, category, product, count, rank) for rank, (product, count) in enumerate(ordered, 1)]

    buyers = Counter(product for _, product in pairs)
    expected = ranked("bestsellers", None, buyers)
    expected += ranked("champions", None, Counter(p for c, p in pairs if c in champions))
    expected += ranked("category", 10, {p: n for p, n in buyers.items() if p in (1, 2, 3)})
    expected += ranked("category", 20, {p: n for p, n in buyers.items() if p in (3, 4, 9)})
    assert got == expected


def test_no_purchases_give_nothing():
    empty = np.zeros(0, dtype=np.int64)
    nothing = Purchases(empty, empty, empty)
    assert all(len(column) == 0 for column in related_products(nothing, 1, 5))
    assert list(bestseller_lists(nothing, (empty, empty))) == []


def test_a_customer_who_bought_two_variants_bought_their_parent_once():
    purchases = Purchases(np.array([1, 1, 2]), np.array([7, 7, 7]), np.array([1]))
    assert purchases.buyers().tolist() == [2] and purchases.buyers(purchases.is_champion).tolist() == [1]
