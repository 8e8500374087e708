"""Product recommendations: co-purchase affinities and bestseller lists computed by the refresh, and the
strategies that turn them into a customer's picks.

The refresh (``refresh_affinities``) gathers the purchases in the database, counts them with
NumPy and SciPy (one sparse matrix product for every pair of products) and stores each product's most
related products (``ProductAffinity``) and the bestseller lists (``ProductRanking``). The storefront
then needs one query to rank a customer's candidates (``PersonalPicks``, ``BoughtTogether``) and one to
load the products ready for Oscar's templates (``load_products``); the ranked ids are cached per
customer and product until the next refresh or the customer's next order.
"""

import hashlib
import time
import uuid
from abc import ABC, abstractmethod
from collections import defaultdict

import numpy as np
from django.core.cache import cache
from django.db import connections, transaction
from django.db.models import Exists, F, FloatField, IntegerField, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.module_loading import import_string
from oscar.core.loading import get_model
from scipy import sparse

from oscar_champions.conf import champions_settings
from oscar_champions.customers import counted_lines, eligible_orders, guest_email_expression, user_key
from oscar_champions.metrics import (
    customer_purchases,
    customer_tables,
    ensure_customer_tables,
    group_starts,
    insert_rows,
    look_up,
    number_columns,
    sorted_by_id,
)
from oscar_champions.models import CustomerMetrics, ProductAffinity, ProductRanking

Line = get_model("order", "Line")
Product = get_model("catalogue", "Product")
ProductCategory = get_model("catalogue", "ProductCategory")
Category = get_model("catalogue", "Category")
ProductImage = get_model("catalogue", "ProductImage")
Option = get_model("catalogue", "Option")
StockRecord = get_model("partner", "StockRecord")

#: Products kept in each bestseller list, and candidates ranked (and cached) per customer or product:
#: enough to fill a row of recommendations after removing what the customer already bought.
RANKING_SIZE = 100
CANDIDATES = 48
#: Pairs of products counted at once by ``related_products`` (at most): bounds its memory.
PAIR_BLOCK = 10_000_000

CACHE_PREFIX = "oscar_champions:storefront"


# --- The refresh ---------------------------------------------------------------------------------------


def _sql(queryset):
    """The SQL and parameters of a queryset, to embed in a larger statement."""
    return queryset.query.get_compiler(using=queryset.db).as_sql()


def _purchases(cursor, until, on_postgresql):
    """The ``Purchases`` of the counted lines, a variant counting as its parent.

    On PostgreSQL they are those of ``customer_purchases()``, whose ``customer_tables()`` block must be open;
    elsewhere from ``counted_lines()``, customers numbered by their key.
    """
    qn = cursor.db.ops.quote_name
    metrics, product = CustomerMetrics._meta.db_table, Product._meta.db_table
    if on_postgresql:
        customers, products = customer_purchases()
        ids, parents = sorted_by_id(
            *number_columns(cursor, f"SELECT id, COALESCE(parent_id, id) FROM {product}", [], "ii")
        )
        known, items = look_up(ids, parents, products)  # not deleted
        customers = customers[known]
        (champions,) = number_columns(cursor, f"""
            SELECT k.customer FROM champions_customer_key k JOIN {metrics} m ON m.{qn("key")} = k.{qn("key")}
            WHERE m.is_champion
        """, [], "i")
    else:
        purchases = (
            counted_lines(until=until)
            .filter(product__isnull=False)
            .annotate(item=Coalesce("product__parent_id", "product_id"))
            .values("customer_key", "item")
            .distinct()
            .order_by()
        )
        sql, params = _sql(purchases)
        customers, items, champion = number_columns(cursor, f"""
            SELECT DENSE_RANK() OVER (ORDER BY p.customer_key), p.item, CASE WHEN m.is_champion THEN 1 ELSE 0 END
            FROM ({sql}) p LEFT JOIN {metrics} m ON m.{qn("key")} = p.customer_key
        """, params, "iii")
        champions = customers[champion == 1]
    return Purchases(customers, items, champions)


def _positions(groups):
    """The 1-based position of each row within its group; rows of a group are consecutive."""
    starts = group_starts(groups)
    return np.arange(len(groups)) - np.repeat(starts, np.diff(np.r_[starts, len(groups)])) + 1


class Purchases:
    """Who bought what: ``bought``, a sparse matrix of customers by ``products`` (ids), 1 where the
    customer bought the product, from ``customers[i]`` buying ``items[i]`` (a pair may repeat, e.g. a
    customer who bought two variants of a product bought the product once); ``is_champion``, a row's
    customer is among ``champions``."""

    def __init__(self, customers, items, champions):
        self.products, item_index = np.unique(items, return_inverse=True)
        customer_ids, customer_index = np.unique(customers, return_inverse=True)
        self.bought = sparse.csr_matrix(
            (np.ones(len(items), dtype=np.int32), (customer_index, item_index)),
            shape=(len(customer_ids), len(self.products)),
        )
        self.bought.data[:] = 1  # the repeated pairs were added up
        self.is_champion = np.isin(customer_ids, champions)

    def buyers(self, rows=None):
        """How many customers (of the ``rows`` mask, all by default) bought each product."""
        bought = self.bought if rows is None else self.bought[rows]
        return np.bincount(bought.indices, minlength=len(self.products))


def related_products(purchases, minimum, per_product):
    """Each product's most related products, from the ``purchases``, as arrays ``product, related,
    score, together, rank``.

    ``together`` is how many customers bought both products, at least ``minimum``; ``score`` their
    cosine similarity; each product keeps its ``per_product`` best, ranked by score, then customers,
    then the related product's id. The pairs are counted with one sparse matrix product.
    """
    bought, products, buyers = purchases.bought, purchases.products, purchases.buyers()
    first, second, together = [], [], []
    # The pairs with a block of products at a time, so that a big catalogue's matrix of pairs is never
    # held whole; each unordered pair once (the matrix is symmetric), the rare ones left out.
    block = max(1, PAIR_BLOCK // max(len(products), 1))
    by_product = bought.tocsc()
    for start in range(0, len(products), block):
        pairs = (bought.T @ by_product[:, start:start + block]).tocoo()
        kept = (pairs.row < pairs.col + start) & (pairs.data >= minimum)
        first.append(pairs.row[kept])
        second.append(pairs.col[kept] + start)
        together.append(pairs.data[kept].astype(np.int64))
    first, second, together = (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
                               for parts in (first, second, together))
    score = together / np.sqrt(buyers[first].astype(float) * buyers[second])
    product = products[np.concatenate((first, second))]
    related = products[np.concatenate((second, first))]
    together, score = np.concatenate((together, together)), np.concatenate((score, score))
    # Rounded for the order, so that scores equal but for floating point tie.
    order = np.lexsort((related, -together, -np.round(score, 12), product))
    product, related, together, score = product[order], related[order], together[order], score[order]
    rank = _positions(product)
    best = rank <= per_product
    return product[best], related[best], score[best], together[best], rank[best]


def bestseller_lists(purchases, category_items, size=RANKING_SIZE):
    """The bestseller lists, by distinct buyers, from the ``purchases``: rows ``(kind, category id,
    product id, customers, rank)`` of the whole shop, of the champions and of each category, the
    ``size`` first of each, more buyers first, then the lower product id. ``category_items`` is a pair
    of arrays: each category and a product in it (or in one of its subcategories)."""
    products, buyers, fans = purchases.products, purchases.buyers(), purchases.buyers(purchases.is_champion)
    categories, members = category_items
    known = np.isin(members, products)
    categories, members = categories[known], members[known]
    lists = [
        (ProductRanking.Kind.BESTSELLERS, np.full(len(products), -1), products, buyers),
        (ProductRanking.Kind.CHAMPIONS, np.full(len(products), -1), products, fans),
        (ProductRanking.Kind.CATEGORY, categories, members, buyers[np.searchsorted(products, members)]),
    ]
    for kind, category, product, count in lists:
        bought = count > 0
        category, product, count = category[bought], product[bought], count[bought]
        order = np.lexsort((product, -count, category))
        category, product, count = category[order], product[order], count[order]
        rank = _positions(category)
        listed = rank <= size
        for row in zip(category[listed].tolist(), product[listed].tolist(), count[listed].tolist(),
                       rank[listed].tolist()):
            yield (kind.value, None if row[0] < 0 else row[0], *row[1:])


def refresh_affinities(as_of=None, progress=None):
    """Recompute every product's related products and the bestseller lists; return the seconds it took.

    Two products are related when the same customers buy both, over their whole history. The score is
    the cosine similarity of the products' buyers, ``together / sqrt(buyers_a * buyers_b)``: a pair of
    bestsellers needs many more shared buyers than a pair of niche products to score as high. Pairs
    bought by fewer than ``AFFINITY_MIN_CUSTOMERS`` customers are ignored; each product keeps its best
    ``AFFINITIES_PER_PRODUCT`` (see ``related_products``). The purchases are read from the lines
    and counted with NumPy and SciPy; the tables are replaced in one transaction, so the storefront
    never sees a half-written list.
    """
    started = time.monotonic()
    category = Category._meta.db_table
    # Each category with its subcategories' products (treebeard's materialised paths: an ancestor's
    # path prefixes its descendants').
    category_items = f"""
        SELECT DISTINCT ancestor.id, pc.product_id FROM {ProductCategory._meta.db_table} pc
        JOIN {category} own ON own.id = pc.category_id JOIN {category} ancestor ON own.path LIKE ancestor.path || '%%'
    """
    with customer_tables(as_of) as on_postgresql:
        database = ensure_customer_tables() if on_postgresql else connections[Line.objects.db]
        with transaction.atomic(using=database.alias), database.cursor() as cursor:
            purchases = _purchases(cursor, as_of, on_postgresql)
            # Plain SQL DELETEs: QuerySet.delete() would load every row first whenever a project listens to
            # every model's deletions (haystack does, in most Oscar shops).
            ProductAffinity.objects.all()._raw_delete(ProductAffinity.objects.db)
            ProductRanking.objects.all()._raw_delete(ProductRanking.objects.db)
            related = related_products(
                purchases, champions_settings.AFFINITY_MIN_CUSTOMERS, champions_settings.AFFINITIES_PER_PRODUCT
            )
            insert_rows(ProductAffinity, ("product_id", "related_id", "score", "customers", "rank"),
                        zip(*(column.tolist() for column in related)))
            if progress:
                progress(f"Product affinities computed in {time.monotonic() - started:.1f} s.")
            insert_rows(
                ProductRanking, ("kind", "category_id", "product_id", "customers", "rank"),
                bestseller_lists(purchases, number_columns(cursor, category_items, [], "ii")),
            )
            transaction.on_commit(invalidate_storefront)
    elapsed = time.monotonic() - started
    if progress:
        progress(f"Bestseller lists computed; recommendations refreshed in {elapsed:.1f} s.")
    return elapsed


# --- The cache -----------------------------------------------------------------------------------------


def _digest(value):
    return hashlib.sha1(str(value).encode()).hexdigest()


def _generation_keys(customer):
    keys = [f"{CACHE_PREFIX}:generation"]
    if customer:
        keys.append(f"{CACHE_PREFIX}:customer:{_digest(customer)}")
    return keys


def invalidate_storefront():
    """Forget every cached recommendation and stage (after a refresh)."""
    cache.set(_generation_keys(None)[0], uuid.uuid4().hex, None)


def invalidate_customer(key):
    """Forget one customer's cached recommendations and stage (after their order)."""
    cache.set(_generation_keys(key)[1], uuid.uuid4().hex, None)


def cached(name, customer, compute):
    """``compute()``, cached under ``name`` for ``customer`` (a customer key, or ``None`` for anonymous)
    until the timeout, the next refresh or the customer's next order.

    Invalidation changes a generation token that is part of the key, rather than deleting keys, so it
    works the same with every cache backend.
    """
    generations = cache.get_many(_generation_keys(customer))
    tokens = [generations.get(key, "0") for key in _generation_keys(customer)]
    key = f"{CACHE_PREFIX}:{_digest((name, customer, *tokens))}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, champions_settings.STOREFRONT_CACHE_TIMEOUT)
    return value


# --- Ranking --------------------------------------------------------------------------------------------


class Kind:
    """What a candidate row of the ranking query is."""

    OWN = 0  # a product the customer bought, with when
    AFFINITY = 1  # a product related to one of the seeds
    CATEGORY = 2  # a bestseller of a favourite category
    CHAMPIONS = 3  # a champions' favourite
    BESTSELLER = 4  # a bestseller of the whole shop


def customer_orders(user):
    """The counted-status orders of a registered customer, found through indexes: the account's own
    orders and guest checkouts with the account's e-mail (see ``oscar_champions.customers``)."""
    return (
        eligible_orders()
        .annotate(guest_key=guest_email_expression())
        .filter(Q(user_id=user.pk) | Q(user__isnull=True, guest_key=user_key(user)))
    )


def _rows(kind, queryset, product, score=None, placed=None, source=None):
    """One part of the ranking query, with the same columns as every other part."""
    return queryset.order_by().values_list(
        Value(kind, output_field=IntegerField()),
        product,
        score if score is not None else Value(None, output_field=FloatField()),
        placed if placed is not None else Value(None, output_field=IntegerField()),
        source if source is not None else Value(None, output_field=IntegerField()),
    )


def _own_rows(user):
    """The products a customer bought; ``placed`` is the id of the latest order with each (order ids
    grow with time, so they order purchases without a date column every database compares alike)."""
    lines = Line.objects.filter(order__in=customer_orders(user).values("pk"), product__isnull=False)
    lines = lines.values(item=Coalesce("product__parent_id", "product_id")).annotate(latest=Max("order_id"))
    return _rows(Kind.OWN, lines, "item", placed=F("latest"))


def _ranking_rows(kind, list_kind, **filters):
    rankings = ProductRanking.objects.filter(kind=list_kind, product__is_public=True, **filters)
    return _rows(kind, rankings, "product_id", score=F("rank"))


def _affinity_rows(seeds):
    affinities = ProductAffinity.objects.filter(product_id__in=seeds, related__is_public=True)
    return _rows(Kind.AFFINITY, affinities, "related_id", score=F("score"), source=F("product_id"))


def _run(parts):
    """Run the parts of a ranking as one UNION ALL query."""
    first, *rest = parts
    return list(first.union(*rest, all=True)) if rest else list(first)


class RecommendationStrategy(ABC):
    """Ranks product ids for a customer; a shop plugs its own in with the RECOMMENDATION_STRATEGY setting.

    ``recommend(user)`` returns up to ``CANDIDATES`` product ids, best first, for a signed-in user or
    for an anonymous visitor (``user`` is ``None``). It may cost one query; the tags cache its answer
    per customer until the next refresh or the customer's next order, and drop the products that are
    not available to buy.
    """

    @abstractmethod
    def recommend(self, user):
        """Product ids for ``user`` (or ``None``), best first."""


class PersonalPicks(RecommendationStrategy):
    """Products related to what the customer bought (recent purchases weigh more), then the bestsellers
    of their favourite category, then the champions' favourites, then the shop's bestsellers.

    Deterministic: ties are broken by product id. Products the customer bought are left out unless the
    RECOMMEND_PURCHASED setting is on.
    """

    #: The weight of a purchase halves... roughly every three orders: each earlier order counts this much
    #: less than the one after it.
    recency_decay = 0.8

    def recommend(self, user):
        if user is None:
            return self.rank(_run([_ranking_rows(Kind.BESTSELLER, ProductRanking.Kind.BESTSELLERS)]))
        own = _own_rows(user)
        favourite = CustomerMetrics.objects.filter(key=user_key(user)).values("favourite_category_id")[:1]
        parts = [
            own,
            _affinity_rows(own.values("item")),
            _ranking_rows(Kind.CATEGORY, ProductRanking.Kind.CATEGORY, category_id=Subquery(favourite)),
            _ranking_rows(Kind.CHAMPIONS, ProductRanking.Kind.CHAMPIONS),
            _ranking_rows(Kind.BESTSELLER, ProductRanking.Kind.BESTSELLERS),
        ]
        return self.rank(_run(parts))

    def seed_weights(self, rows):
        """Each bought product's weight: 1 for the latest order, ``recency_decay`` times less per order
        before it."""
        latest = {product: placed for kind, product, score, placed, source in rows if kind == Kind.OWN}
        order_rank = {order: rank for rank, order in enumerate(sorted(set(latest.values()), reverse=True))}
        return {product: self.recency_decay ** order_rank[order] for product, order in latest.items()}

    def rank(self, rows, exclude=()):
        seeds = self.seed_weights(rows)
        excluded = set(exclude)
        if not champions_settings.RECOMMEND_PURCHASED:
            excluded |= set(seeds)
        related = defaultdict(float)
        lists = defaultdict(dict)
        for kind, product, score, placed, source in rows:
            if kind == Kind.AFFINITY:
                related[product] += score * seeds.get(source, 1.0)
            elif kind != Kind.OWN:
                lists[kind][product] = min(score, lists[kind].get(product, score))
        ordered = sorted(related, key=lambda product: (-related[product], product))
        for kind in (Kind.CATEGORY, Kind.CHAMPIONS, Kind.BESTSELLER):
            ordered += sorted(lists[kind], key=lambda product: (lists[kind][product], product))
        picks = []
        for product in ordered:
            if product not in excluded:
                excluded.add(product)
                picks.append(product)
                if len(picks) == CANDIDATES:
                    break
        return picks


class PopularProducts(PersonalPicks):
    """The shop's bestsellers, the same for everyone except for what each customer already bought: the
    baseline the evaluation compares the personal picks with."""

    def recommend(self, user):
        parts = [_ranking_rows(Kind.BESTSELLER, ProductRanking.Kind.BESTSELLERS)]
        if user is not None:
            parts.insert(0, _own_rows(user))
        return self.rank(_run(parts))


def recommendation_strategy():
    """The strategy chosen by the RECOMMENDATION_STRATEGY setting."""
    return import_string(champions_settings.RECOMMENDATION_STRATEGY)()


def bought_together(products, user=None):
    """Product ids bought by the customers who bought ``products`` (e.g. a product page's product or a
    basket's), best first; topped up with the bestsellers of the products' categories and the shop's.
    One query. The products themselves, and what ``user`` bought (unless RECOMMEND_PURCHASED), are
    left out."""
    seeds = sorted({product.parent_id or product.pk for product in products})
    categories = ProductCategory.objects.filter(product_id__in=seeds).values("category_id")
    parts = [
        _affinity_rows(seeds),
        _ranking_rows(Kind.CATEGORY, ProductRanking.Kind.CATEGORY, category_id__in=categories),
        _ranking_rows(Kind.BESTSELLER, ProductRanking.Kind.BESTSELLERS),
    ]
    if user is not None:
        parts.insert(0, _own_rows(user))
    return PersonalPicks().rank(_run(parts), exclude=seeds)


# --- Loading products ------------------------------------------------------------------------------------


def _prefetched(product, name, items):
    """Give ``product`` a ready result for ``product.<name>.all()``, as ``prefetch_related`` would."""
    queryset = getattr(product, name).all()
    queryset._result_cache = list(items)
    queryset._prefetch_done = True
    product.__dict__.setdefault("_prefetched_objects_cache", {})[name] = queryset


def load_products(ids, strategy, limit):
    """The first ``limit`` of the products ``ids`` that are public and available to buy, in that order,
    ready for Oscar's product templates (stock records, public children and primary image in place),
    in one query.

    The query reads the products through their stock records (a parent product through its children's),
    since a product without one cannot be bought.
    """
    ids = list(ids)
    if not ids or limit <= 0:
        return []
    images = ProductImage.objects.filter(product_id=OuterRef("canonical")).order_by("display_order", "pk")
    own_options = Option.objects.filter(product=OuterRef("canonical"))
    class_options = Option.objects.filter(productclass=OuterRef("product__product_class_id"))
    records = (
        StockRecord.objects.filter(
            Q(product_id__in=ids, product__is_public=True)
            | Q(product__parent_id__in=ids, product__is_public=True, product__parent__is_public=True)
        )
        .select_related("partner", "product__product_class", "product__parent__product_class")
        .annotate(canonical=Coalesce("product__parent_id", "product_id"))
        .annotate(
            image=Subquery(images.values("original")[:1]),
            image_id=Subquery(images.values("pk")[:1]),
            own_options=Exists(own_options),
            class_options=Exists(class_options),
        )
        .order_by("product_id", "pk")
    )
    found = {}
    children = defaultdict(dict)
    stock = defaultdict(list)
    for record in records:
        product = record.product
        stock[product.pk].append(record)
        if product.parent_id:
            children[product.parent_id][product.pk] = product
            found.setdefault(product.parent_id, product.parent)
        else:
            found[product.pk] = product
        canonical = found[record.canonical]
        canonical.champions_image = (record.image_id, record.image)
        # What Oscar's ProductQuerySet.base_queryset() annotates, read by Product.has_options.
        canonical.has_product_options = record.own_options
        canonical.has_product_class_options = record.class_options or getattr(
            canonical, "has_product_class_options", False
        )
    picks = []
    for product_id in ids:
        product = found.get(product_id)
        if product is None:
            continue
        _ready_for_templates(product, stock, list(children[product.pk].values()))
        info = strategy.fetch_for_parent(product) if product.is_parent else strategy.fetch_for_product(product)
        if info.availability.is_available_to_buy:
            picks.append(product)
            if len(picks) == limit:
                break
    return picks


def _ready_for_templates(product, stock, children):
    """Put what Oscar's product partial reads in place, so rendering it costs no query."""
    _prefetched(product, "stockrecords", stock[product.pk])
    image_id, original = product.champions_image
    image = [ProductImage(pk=image_id, product=product, original=original, display_order=0)] if image_id else []
    _prefetched(product, "images", image)
    if product.is_parent:
        for child in children:
            child.parent = product
            _prefetched(child, "stockrecords", stock[child.pk])
        # Oscar's Product.get_public_children() reads this instead of querying.
        product._prefetched_public_children = children
