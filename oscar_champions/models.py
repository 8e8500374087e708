"""What the engine stores: one row of metrics per customer, the orders that count by customer, a record of
every full refresh, saved segments; what the storefront reads: product affinities and bestseller lists, and
offers targeted at segments."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from oscar_champions.rfm import RFMGroup
from oscar_champions.segments import LifecycleStage

#: A refresh as of more than this before it started was run for an earlier date.
BACKDATED_AFTER = timedelta(minutes=1)


class CustomerMetrics(models.Model):
    """Everything the shop knows about one customer's buying, as of the last refresh.

    ``key`` identifies the customer (see ``oscar_champions.customers``); ``user`` links the row to
    the registered account when there is one.
    """

    # Unique and indexed through Meta, not unique=True and db_index=True: those would also build PostgreSQL
    # indexes for LIKE 'prefix%' searches, which nothing here runs and every refresh would have to write.
    key = models.CharField(_("Customer key"), max_length=254)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="champions_metrics",
        verbose_name=_("User"),
    )
    email = models.EmailField(_("E-mail"), blank=True)

    orders = models.PositiveIntegerField(_("Orders"))
    items = models.PositiveIntegerField(_("Items"), default=0)
    revenue = models.DecimalField(_("Revenue"), max_digits=14, decimal_places=2)
    average_order_value = models.DecimalField(_("Average order value"), max_digits=14, decimal_places=2)
    first_order_at = models.DateTimeField(_("First order"))
    last_order_at = models.DateTimeField(_("Last order"), db_index=True)
    days_since_last_order = models.PositiveIntegerField(_("Days since last order"))
    tenure_days = models.PositiveIntegerField(_("Tenure (days)"))
    average_days_between_orders = models.FloatField(_("Average days between orders"), null=True, blank=True)
    distinct_products = models.PositiveIntegerField(_("Distinct products"), default=0)
    distinct_categories = models.PositiveIntegerField(_("Distinct categories"), default=0)
    discount_share = models.FloatField(_("Share of orders with a discount"), default=0)
    favourite_category = models.ForeignKey(
        "catalogue.Category",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("Favourite category"),
    )

    recency_score = models.PositiveSmallIntegerField(_("R score"))
    frequency_score = models.PositiveSmallIntegerField(_("F score"))
    monetary_score = models.PositiveSmallIntegerField(_("M score"))
    rfm_group = models.CharField(_("RFM group"), max_length=32, choices=RFMGroup.choices)
    previous_rfm_group = models.CharField(
        _("Previous RFM group"), max_length=32, choices=RFMGroup.choices, blank=True
    )
    lifecycle_stage = models.CharField(_("Lifecycle stage"), max_length=32, choices=LifecycleStage.choices)
    previous_lifecycle_stage = models.CharField(
        _("Previous lifecycle stage"), max_length=32, choices=LifecycleStage.choices, blank=True
    )
    is_champion = models.BooleanField(_("Champion"), default=False, db_index=True)

    probability_alive = models.FloatField(_("Probability alive"), null=True, blank=True)
    expected_orders_90d = models.FloatField(_("Expected orders, next 90 days"), null=True, blank=True)
    expected_orders_365d = models.FloatField(_("Expected orders, next 12 months"), null=True, blank=True)
    expected_order_value = models.DecimalField(
        _("Expected average order value"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    predicted_value_365d = models.DecimalField(
        _("Predicted 12-month value"), max_digits=14, decimal_places=2, null=True, blank=True
    )

    computed_at = models.DateTimeField(_("Computed at"))
    as_of = models.DateTimeField(_("As of"))

    class Meta:
        verbose_name = _("customer metrics")
        verbose_name_plural = _("customer metrics")
        ordering = ["-revenue", "key"]
        permissions = [("access_dashboard", _("Can use the customer dashboard, reports and exports"))]
        constraints = [models.UniqueConstraint(fields=["key"], name="champions_metrics_key")]
        indexes = [
            # The members tables open sorted by revenue: an index lets a page of them skip sorting every customer.
            models.Index(fields=["revenue", "key"], name="champions_metrics_revenue"),
            models.Index(fields=["email"], name="champions_metrics_email"),
            models.Index(fields=["rfm_group"], name="champions_metrics_rfm_group"),
            models.Index(fields=["lifecycle_stage"], name="champions_metrics_stage"),
        ]

    def __str__(self):
        return self.email or self.key

    @property
    def is_registered(self):
        return self.user_id is not None


#: The name of ``CountedOrder``'s index by customer and date.
COUNTED_CUSTOMER_INDEX = "champions_counted_customer"
#: What that index holds besides its keys on PostgreSQL: what the report adds up per customer and filters by,
#: which it then reads from the index alone, in customer order (measured at 1M orders: the statement summing a
#: year and the previous one took 0.37 s instead of 0.83 s).
COUNTED_CUSTOMER_INCLUDE = ("revenue_cents", "site")


class CountedOrder(models.Model):
    """An order that counts (see ``oscar_champions.customers``) with its customer's metrics row and revenue.

    Written by each full refresh and kept up to date by the incremental update, so that the report can
    add up a period's orders by customer through integers, without working out each order's customer key
    from the e-mails of the order and its account. Neither link is a database constraint: the refresh
    rewrites the metrics and these rows in one transaction, and a shop's deletions of orders reach them
    through Django.
    """

    order = models.OneToOneField(
        "order.Order", on_delete=models.CASCADE, primary_key=True, db_constraint=False,
        related_name="champions_counted",
        verbose_name=_("Order"),
    )
    # Indexed by Meta.indexes only, which a refresh that rewrites every row builds after writing them (written one
    # by one into an index, a million rows cost it seconds): by customer for their own orders and for the report's
    # sums per customer, by date for recent ones.
    customer = models.ForeignKey(
        CustomerMetrics, on_delete=models.CASCADE, db_constraint=False, db_index=False,
        related_name="counted_orders", verbose_name=_("Customer"),
    )
    site = models.ForeignKey(
        "sites.Site", on_delete=models.DO_NOTHING, null=True, blank=True, db_constraint=False, db_index=False,
        related_name="+", verbose_name=_("Site"),
    )
    placed_at = models.DateTimeField(_("Placed at"))
    # In cents: the report adds up hundreds of thousands of these, a third faster as integers than as decimals.
    revenue_cents = models.BigIntegerField(_("Revenue (cents)"))
    # The customer's flag, copied whenever their metrics are written: a period's champions' revenue is then
    # summed without joining every order to its customer's metrics (measured at 100k customers: 4x faster).
    is_champion = models.BooleanField(_("Champion"), default=False)

    class Meta:
        verbose_name = _("counted order")
        verbose_name_plural = _("counted orders")
        indexes = [
            # On PostgreSQL, with COUNTED_CUSTOMER_INCLUDE (migration 0011, indexes_for): keep it so in a migration
            # that changes this index.
            models.Index(fields=["customer", "placed_at"], name=COUNTED_CUSTOMER_INDEX),
            models.Index(fields=["placed_at"], name="champions_counted_placed"),
        ]

    def __str__(self):
        return str(self.order_id)

    @classmethod
    def indexes_for(cls, connection):
        """``Meta.indexes`` as built on ``connection``: on PostgreSQL, the index by customer also holds
        COUNTED_CUSTOMER_INCLUDE (migration 0011), which other databases would ignore with a warning."""
        if connection.vendor != "postgresql":
            return cls._meta.indexes
        return [
            models.Index(fields=index.fields, include=COUNTED_CUSTOMER_INCLUDE, name=index.name)
            if index.name == COUNTED_CUSTOMER_INDEX else index
            for index in cls._meta.indexes
        ]


class RefreshRun(models.Model):
    """One full refresh: when, as of when, how it went, the model it fitted and its backtest.

    ``context`` holds what an incremental update needs to score a customer the way the last full
    refresh did (score thresholds, fitted parameters, the champion rule's state).
    """

    class Status(models.TextChoices):
        RUNNING = "running", pgettext_lazy("refresh status", "Running")
        SUCCEEDED = "succeeded", pgettext_lazy("refresh status", "Succeeded")
        FAILED = "failed", pgettext_lazy("refresh status", "Failed")

    started_at = models.DateTimeField(_("Started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("Finished at"), null=True, blank=True)
    as_of = models.DateTimeField(_("As of"))
    status = models.CharField(_("Status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    error = models.TextField(_("Error"), blank=True)

    customers = models.PositiveIntegerField(_("Customers"), default=0)
    orders_counted = models.PositiveIntegerField(_("Orders counted"), default=0)
    orders_without_customer = models.PositiveIntegerField(_("Orders without a customer"), default=0)
    orders_in_other_currencies = models.PositiveIntegerField(_("Orders in other currencies"), default=0)

    model_fitted = models.BooleanField(_("Model fitted"), default=False)
    model_message = models.TextField(_("Model message"), blank=True)
    context = models.JSONField(_("Scoring context"), default=dict)
    backtest = models.JSONField(_("Backtest"), default=dict, blank=True)

    class Meta:
        verbose_name = _("refresh")
        verbose_name_plural = _("refreshes")
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self):
        return f"{self.as_of:%Y-%m-%d} ({self.get_status_display()})"

    @property
    def model_explanation(self):
        """Why the model was not fitted, in the reader's language (empty when it was)."""
        problem = self.context.get("model_problem")
        if self.model_fitted or not problem:
            return ""
        if problem["code"] == "insufficient_data":
            return _(
                "Not enough history to predict yet: %(found)s customers have ordered more than once, and "
                "the model needs at least %(needed)s."
            ) % problem
        return _(
            "The model could not be fitted to this shop's history (%(detail)s). The metrics and segments "
            "do not depend on it."
        ) % {"detail": self.model_message}

    @property
    def is_backdated(self):
        """Whether the refresh was run as of an earlier date than its own (``champions_refresh --as-of``)."""
        return self.as_of < self.started_at - BACKDATED_AFTER

    @property
    def duration(self):
        if self.finished_at:
            return self.finished_at - self.started_at
        return None


class SegmentSnapshot(models.Model):
    """How many customers (and how much revenue) a segment had after a full refresh."""

    class Dimension(models.TextChoices):
        LIFECYCLE = "lifecycle", _("Lifecycle stage")
        RFM = "rfm", _("RFM group")

    run = models.ForeignKey(RefreshRun, on_delete=models.CASCADE, related_name="snapshots")
    dimension = models.CharField(_("Dimension"), max_length=16, choices=Dimension.choices)
    segment = models.CharField(_("Segment"), max_length=32)
    customers = models.PositiveIntegerField(_("Customers"))
    revenue = models.DecimalField(_("Revenue"), max_digits=16, decimal_places=2)

    class Meta:
        verbose_name = _("segment snapshot")
        verbose_name_plural = _("segment snapshots")
        constraints = [
            models.UniqueConstraint(fields=["run", "dimension", "segment"], name="champions_unique_snapshot")
        ]


class SegmentMovement(models.Model):
    """How many customers moved from one segment to another in a full refresh."""

    run = models.ForeignKey(RefreshRun, on_delete=models.CASCADE, related_name="movements")
    dimension = models.CharField(_("Dimension"), max_length=16, choices=SegmentSnapshot.Dimension.choices)
    from_segment = models.CharField(_("From"), max_length=32, blank=True)
    to_segment = models.CharField(_("To"), max_length=32)
    customers = models.PositiveIntegerField(_("Customers"))

    class Meta:
        verbose_name = _("segment movement")
        verbose_name_plural = _("segment movements")


class SavedSegment(models.Model):
    """A named filter over the customer metrics, built and saved by staff in the segment builder.

    ``filters`` holds the builder's query parameters as submitted; they are validated again by the
    segment FilterSet whenever the segment is loaded, so a segment whose category was deleted
    reports it instead of failing.
    """

    name = models.CharField(_("Name"), max_length=128)
    description = models.TextField(_("Description"), blank=True)
    filters = models.JSONField(_("Filters"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("Created by"),
    )
    created_at = models.DateTimeField(_("Created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("Updated"), auto_now=True)

    class Meta:
        verbose_name = _("saved segment")
        verbose_name_plural = _("saved segments")
        ordering = ["name", "pk"]

    def __str__(self):
        return self.name


class ProductAffinity(models.Model):
    """How strongly customers who buy ``product`` also buy ``related``, as of the last refresh.

    ``score`` is the cosine similarity of the two products' sets of buyers: the customers who bought
    both, divided by the geometric mean of each product's buyers, so bestsellers do not crowd every
    list. Only each product's best ``AFFINITIES_PER_PRODUCT`` related products are kept.
    """

    product = models.ForeignKey(
        "catalogue.Product", on_delete=models.CASCADE, related_name="+", verbose_name=_("Product")
    )
    related = models.ForeignKey(
        "catalogue.Product", on_delete=models.CASCADE, related_name="+", verbose_name=_("Related product")
    )
    score = models.FloatField(_("Affinity"))
    customers = models.PositiveIntegerField(_("Customers who bought both"))
    rank = models.PositiveSmallIntegerField(_("Rank"))

    class Meta:
        verbose_name = _("product affinity")
        verbose_name_plural = _("product affinities")
        ordering = ["product", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["product", "related"], name="champions_unique_affinity"),
        ]
        indexes = [models.Index(fields=["product", "rank"], name="champions_affinity_rank")]


class ProductRanking(models.Model):
    """The refresh's bestseller lists: the whole shop, the champions, and each category."""

    class Kind(models.TextChoices):
        BESTSELLERS = "bestsellers", _("Bestsellers")
        CHAMPIONS = "champions", _("Champions' favourites")
        CATEGORY = "category", _("Bestsellers of a category")

    kind = models.CharField(_("List"), max_length=16, choices=Kind.choices)
    category = models.ForeignKey(
        "catalogue.Category",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("Category"),
    )
    product = models.ForeignKey(
        "catalogue.Product", on_delete=models.CASCADE, related_name="+", verbose_name=_("Product")
    )
    customers = models.PositiveIntegerField(_("Customers"))
    rank = models.PositiveIntegerField(_("Rank"))

    class Meta:
        verbose_name = _("product ranking")
        verbose_name_plural = _("product rankings")
        ordering = ["kind", "category", "rank"]
        indexes = [models.Index(fields=["kind", "category", "rank"], name="champions_ranking_list")]


class SegmentOffer(models.Model):
    """Makes an Oscar "User" offer apply to the members of a lifecycle stage or of a saved segment.

    Exactly one of ``lifecycle_stage`` and ``segment`` is set. The offer's condition, benefit, dates
    and limits stay Oscar's; ``oscar_champions.offers.SegmentOffersMixin`` hands the offer to the
    members' baskets.
    """

    offer = models.OneToOneField(
        "offer.ConditionalOffer",
        on_delete=models.CASCADE,
        related_name="champions_target",
        verbose_name=_("Offer"),
    )
    lifecycle_stage = models.CharField(
        _("Lifecycle stage"), max_length=32, choices=LifecycleStage.choices, blank=True
    )
    segment = models.ForeignKey(
        SavedSegment,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="offers",
        verbose_name=_("Saved segment"),
    )

    class Meta:
        verbose_name = _("segment offer")
        verbose_name_plural = _("segment offers")
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(segment__isnull=True) & ~models.Q(lifecycle_stage=""))
                | (models.Q(segment__isnull=False) & models.Q(lifecycle_stage="")),
                name="champions_offer_one_target",
            )
        ]

    def __str__(self):
        return f"{self.offer} → {self.target_name}"

    @property
    def target_name(self):
        """The stage's or the saved segment's name, for staff."""
        return self.segment.name if self.segment_id else self.get_lifecycle_stage_display()
