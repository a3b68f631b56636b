"""SQLAlchemy models. Every table carries ``program_id`` so programs can share a database.

The database enforces what must hold (UNIQUE idempotency keys, CHECKs on amounts and
statuses); Python checks elsewhere exist only to give friendly messages.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


# Ledger kinds and the sign each must carry (enforced by a CHECK constraint).
CREDIT_KINDS = ("purchase", "visit", "join", "birthday", "referral", "survey", "bonus", "code_return")
DEBIT_KINDS = ("redeem", "expire", "reversal", "forfeit")
EITHER_KINDS = ("adjust",)
LEDGER_KINDS = CREDIT_KINDS + DEBIT_KINDS + EITHER_KINDS

CODE_STATUSES = ("issued", "redeemed", "expired", "cancelled")
REWARD_KINDS = ("free_item", "fixed_discount", "percent_discount", "custom")
# reversed: the purchase that qualified it was refunded, and both bonuses were taken back
REFERRAL_STATUSES = ("invited", "joined", "qualified", "reversed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Program(Base):
    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))
    # The validated program file, as loaded; rules are read from here. Deferred: loaded only
    # when rewards.program.programs.config_of has not parsed this load yet (every message loads the
    # program row, and decoding this JSON each time cost more than the rest of the row).
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    loaded_at: Mapped[datetime]
    # A random secret, made on first use (rewards/erased_contacts.py): the key of the hashes
    # kept of deleted members' phone numbers and addresses. Deferred: nothing else reads it.
    privacy_key: Mapped[str | None] = mapped_column(String(64), deferred=True)


class Tier(Base):
    __tablename__ = "tiers"
    __table_args__ = (
        UniqueConstraint("program_id", "name"),
        CheckConstraint("threshold >= 0", name="threshold_non_negative"),
        CheckConstraint("multiplier_permille > 0", name="multiplier_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    threshold: Mapped[int] = mapped_column(Integer)
    multiplier_permille: Mapped[int] = mapped_column(Integer)  # 1.5x -> 1500
    retired: Mapped[bool] = mapped_column(Boolean, default=False)


class Reward(Base):
    __tablename__ = "rewards"
    __table_args__ = (
        UniqueConstraint("program_id", "slug"),
        CheckConstraint("cost > 0", name="cost_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_non_negative"),
        CheckConstraint(_in("kind", REWARD_KINDS), name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    slug: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    cost: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(String(20), default="0")
    min_tier: Mapped[str | None] = mapped_column(String(100))
    stock: Mapped[int | None] = mapped_column(Integer)
    per_member_limit: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    code_valid_days: Mapped[int] = mapped_column(Integer, default=30)
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired_at: Mapped[datetime | None]


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("program_id", "code"),
        UniqueConstraint("program_id", "phone"),
        # A program's members in id order: a campaign's fan-out reads them a chunk at a time
        # from a cursor (keyset pagination), and PostgreSQL's program_id index is not in id order.
        Index("ix_members_program_keyset", "program_id", "id"),
        # New members in a period (rewards/metrics/).
        Index("ix_members_program_joined", "program_id", "joined_at"),
        # The console's member list (rewards/member_search.py, migration 0022): each sort
        # reads its index in order, and a name is found from its start, in any case.
        Index("ix_members_program_balance", "program_id", "balance", "id"),
        Index("ix_members_program_last_activity", "program_id", "last_activity_at", "id"),
        Index("ix_members_program_joined_id", "program_id", "joined_at", "id"),
        # Members who deleted their data in a day (the figures' running total), and the
        # members left by tier, from the index alone (migration 0023).
        Index("ix_members_program_deleted", "program_id", "deleted_at", "tier_id"),
        Index("ix_members_program_name", "program_id", func.lower(text("name")).label("name_lower"),
              postgresql_ops={"name_lower": "text_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    code: Mapped[str] = mapped_column(String(16))  # membership card and invite code
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164; None once deleted
    # The member's time zone, derived from their phone at join (rewards/localtime.py), for
    # quiet hours; kept so a campaign's fan-out need not parse 100,000 numbers. NULL: not known.
    timezone: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(10))
    # When the bot last offered to switch ``language`` to the one the member wrote in: once
    # in a while, not on every message (bot/language_offer.py).
    language_offered_at: Mapped[datetime | None]
    birthday: Mapped[date | None] = mapped_column(Date)
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=True)
    joined_at: Mapped[datetime]
    last_activity_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    # Cached sum of this member's ledger entries, updated in the same transaction.
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"))

    tier: Mapped[Tier | None] = relationship(lazy="joined")


class Identity(Base):
    """One channel address (a Telegram chat, a phone on WhatsApp/SMS, a terminal).

    It exists before its owner joins, so the conversation state of a sign-up lives here.
    """

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("program_id", "channel", "address"),
        # Members by channel, from the index alone (rewards/metrics/, migration 0023).
        Index("ix_identities_program_channel_member", "program_id", "channel", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(100))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    language: Mapped[str | None] = mapped_column(String(10))
    marketing_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # Conversation state of a multi-step flow; cleared when it ends or times out.
    flow: Mapped[str | None] = mapped_column(String(40))
    flow_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    flow_expires_at: Mapped[datetime | None]
    # The options of the last numbered menu shown, so "2" means something.
    menu: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Set when the provider said this address can never be reached (bot blocked, number
    # invalid); nothing more is sent there until the customer writes again.
    unreachable_at: Mapped[datetime | None]
    unreachable_reason: Mapped[str | None] = mapped_column(String(500))
    # The customer sent a carrier STOP keyword here (WhatsApp, SMS): no notices or promotions
    # go to this address until they send START. Unlike ``unreachable_at``, writing to us
    # again does not clear it (channels/twilio_inbound.py says what else it changes).
    stopped_at: Mapped[datetime | None]

    member: Mapped[Member | None] = relationship()
    program: Mapped[Program] = relationship()


class InboundMessage(Base):
    """A provider delivery already handled: the unique key makes a redelivered update or
    MessageSid stop here, so a provider's retry has exactly one effect."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("program_id", "channel", "provider_message_id"),
        # The clock prunes rows past ``[privacy] message_retention_days`` (rewards/erasure.py).
        Index("ix_inbound_program_received", "program_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    channel: Mapped[str] = mapped_column(String(20))
    provider_message_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime]


class Purchase(Base):
    __tablename__ = "purchases"
    __table_args__ = (
        UniqueConstraint("program_id", "receipt_id"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        # The clock's survey job reads the purchases of the last day (migration 0011); the
        # dashboard's figures read a period's from the index alone (migration 0021).
        Index("ix_purchases_program_created", "program_id", "created_at", "member_id", "amount_minor", "refunded_at"),
        # Refunds since a summary was made, which its reader takes out (migration 0023). Of
        # refunded purchases only: a planner must not take it for "not refunded".
        Index("ix_purchases_program_refunded", "program_id", "refunded_at",
              sqlite_where=text("refunded_at IS NOT NULL"), postgresql_where=text("refunded_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    receipt_id: Mapped[str] = mapped_column(String(100))
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # in the currency's minor unit
    points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    refunded_at: Mapped[datetime | None]
    actor: Mapped[str | None] = mapped_column(String(100))


class Code(Base):
    """A single-use redemption code. Single use is enforced by a conditional UPDATE."""

    __tablename__ = "codes"
    __table_args__ = (
        UniqueConstraint("code"),
        CheckConstraint(_in("status", CODE_STATUSES), name="status_known"),
        CheckConstraint("cost >= 0", name="cost_non_negative"),
        Index("ix_codes_status_expires", "program_id", "status", "expires_at"),
        # Redemptions in a period (rewards/metrics/).
        Index("ix_codes_program_issued", "program_id", "issued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"))
    code: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12), default="issued")
    cost: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[str | None] = mapped_column(String(100))

    reward: Mapped[Reward] = relationship(lazy="joined")
    member: Mapped[Member] = relationship()


class Referral(Base):
    """A new contact who came with an invite code; referee_id is set when they join."""

    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("program_id", "channel", "address"),
        UniqueConstraint("program_id", "referee_id"),
        CheckConstraint(_in("status", REFERRAL_STATUSES), name="status_known"),
        CheckConstraint("referrer_id <> referee_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    referee_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), default="invited")
    created_at: Mapped[datetime]
    joined_at: Mapped[datetime | None]
    qualified_at: Mapped[datetime | None]
    # The purchase that qualified it: refunding that purchase reverses both bonuses.
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"), index=True)
    reversed_at: Mapped[datetime | None]


class LedgerEntry(Base):
    """Append-only. Corrections are new entries; nothing here is ever updated."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("program_id", "idempotency_key"),
        CheckConstraint(_in("kind", LEDGER_KINDS), name="kind_known"),
        CheckConstraint(
            f"({_in('kind', CREDIT_KINDS)} AND amount > 0)"
            f" OR ({_in('kind', DEBIT_KINDS)} AND amount < 0)"
            f" OR ({_in('kind', EITHER_KINDS)} AND amount <> 0)",
            name="amount_sign",
        ),
        # Covering, so tier, expiry and pending look-ups read the index alone: one member's
        # rows cost the same however large the ledger grows (bench/ledger.py).
        Index("ix_ledger_member_lot", "member_id", "lot_at", "kind", "amount"),
        # A program's entries in time order, covering the sums of a period by kind
        # (rewards/metrics/): the dashboard reads days, not the whole ledger.
        Index("ix_ledger_program_created", "program_id", "created_at", "kind", "amount"),
        Index(
            "ix_ledger_member_pending", "member_id", "available_at", "amount",
            sqlite_where=text("available_at IS NOT NULL"), postgresql_where=text("available_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    # 64-bit: an expiry or a deletion's forfeit carries a whole balance (BIGINT too). Every
    # other entry is at most MAX_POINTS (rewards/program/config.py). SQLite's INTEGER is 64-bit already.
    amount: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # When the points were earned: drives expiry (oldest first) and the tier window.
    # A reversal carries the lot of what it reverses.
    lot_at: Mapped[datetime]
    # Purchase points in their return window are not spendable until then.
    available_at: Mapped[datetime | None]
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"), index=True)
    code_id: Mapped[int | None] = mapped_column(ForeignKey("codes.id"))
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"))
    actor: Mapped[str | None] = mapped_column(String(100))


OUTBOX_KINDS = ("reply", "notice", "campaign")
OUTBOX_STATUSES = ("queued", "sending", "sent", "failed", "skipped")
# Lower goes first: an answer to what the customer just said before news, news before promotions.
OUTBOX_PRIORITY = {"reply": 0, "notice": 1, "campaign": 2}


class OutboxMessage(Base):
    """One message to send. Written in the transaction that decided it; delivered by the
    sender, which claims rows with a lease (``claimed_until``) so a crashed sender's rows
    come back. ``payload`` is the Reply as plain JSON (bot/outbox_payload.py)."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("program_id", "dedupe_key"),
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status_known"),
        CheckConstraint(_in("kind", OUTBOX_KINDS), name="kind_known"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("ix_outbox_claim", "status", "available_at", "priority", "id"),
        Index("ix_outbox_program_status", "program_id", "status"),
        Index("ix_outbox_provider_message", "channel", "provider_message_id"),
        Index("ix_outbox_address", "program_id", "channel", "address", "status"),
        # Retention (rewards/erasure.py): finished rows older than the retention period lose
        # their address and text; and ephemeral rows lose them as soon as they are finished.
        Index("ix_outbox_program_created", "program_id", "created_at"),
        Index("ix_outbox_ephemeral", "id", sqlite_where=text("ephemeral"), postgresql_where=text("ephemeral")),
        # The sender skips what is too old before each claim (rewards/outbox.py skip_stale):
        # one range per kind, touching only the rows it skips, however long the queue.
        Index("ix_outbox_stale", "status", "kind", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(12))
    priority: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime]
    # When it was first due: ``available_at`` as queued (later than ``created_at`` when quiet
    # hours hold it back), set again by an operator's retry. Staleness counts from here;
    # ``available_at`` moves with every retry and cannot say.
    due_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    # What the provider reported later (Twilio status callbacks): delivered, read, undelivered...
    delivery_status: Mapped[str | None] = mapped_column(String(20))
    delivery_status_at: Mapped[datetime | None]
    # Erase its address and text as soon as it is finished (a data export, the "your data
    # is deleted" confirmation), not at the end of the retention period.
    ephemeral: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class MemberDay(Base):
    """A day (in the program's time zone) a member wrote to us: what "active" counts
    beside purchases and redemptions (rewards/metrics/). Inbound delivery records are
    deleted after ``[privacy] message_retention_days`` and name no member, so they cannot
    say; this row names no address and no text, only that the member was there that day.
    One row a member a day (the primary key), written by every message with INSERT ...
    ON CONFLICT DO NOTHING; kept when the member deletes their data, like their purchases."""

    __tablename__ = "member_days"

    __table_args__ = (Index("ix_member_days_member_day", "member_id", "day"),)  # one member's days (migration 0023)

    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    # When they first wrote that day (migration 0023; None before): a summary of the figures
    # made during the day says whom it saw (rewards/metrics/summaries.py).
    first_at: Mapped[datetime | None]


class MetricDay(Base):
    """One closed local day's additive figures (rewards/metrics/summaries.py), filled by
    the clock so that a period reads a row a day instead of the day's events. Purchases
    count as kept when not refunded before ``cutoff``: the reader takes out those refunded
    since. A write dated in the past (``loyalty demo --busy``) deletes the rows from its
    day on (``summaries.forget``), and the clock fills them again."""

    __tablename__ = "metric_days"

    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    cutoff: Mapped[datetime]
    new_members: Mapped[int] = mapped_column(Integer)
    deleted_members: Mapped[int] = mapped_column(Integer)
    referred: Mapped[int] = mapped_column(Integer)  # new members who came with an invitation
    purchases: Mapped[int] = mapped_column(Integer)
    sales_minor: Mapped[int] = mapped_column(BigInteger)
    earned: Mapped[int] = mapped_column(BigInteger)
    redeemed: Mapped[int] = mapped_column(BigInteger)
    returned: Mapped[int] = mapped_column(BigInteger)
    refunded: Mapped[int] = mapped_column(BigInteger)
    expired: Mapped[int] = mapped_column(BigInteger)
    adjusted: Mapped[int] = mapped_column(BigInteger)
    nps_responses: Mapped[int] = mapped_column(Integer)
    nps_promoters: Mapped[int] = mapped_column(Integer)
    nps_detractors: Mapped[int] = mapped_column(Integer)
    rewards: Mapped[dict[str, Any]] = mapped_column(JSON)  # reward id -> [codes issued, points]


class MetricCohorts(Base):
    """The monthly cohort table for the complete months ``first_month`` on, ``months`` of
    them (rewards/metrics/cohorts.py), as the clock read it at ``cutoff``. Its reader reads
    it again from the purchases when one of those months had a purchase refunded since."""

    __tablename__ = "metric_cohorts"

    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    first_month: Mapped[date] = mapped_column(Date, primary_key=True)
    months: Mapped[int] = mapped_column(Integer, primary_key=True)
    cutoff: Mapped[datetime]
    rows: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"cohorts": [[month, members, [shares...]], ...]}


class MetricWindow(Base):
    """The figures that count members, not events, for the closed local days ``start`` to
    ``end``, beside the days from ``prev_start`` to the day before ``start`` (retention).
    Filled by the clock for the windows the dashboard's periods need today; the reader adds
    today's members and takes out refunds since ``cutoff`` member by member."""

    __tablename__ = "metric_windows"

    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    start: Mapped[date] = mapped_column(Date, primary_key=True)
    end: Mapped[date] = mapped_column(Date, primary_key=True)
    prev_start: Mapped[date] = mapped_column(Date, primary_key=True)
    cutoff: Mapped[datetime]
    purchasers: Mapped[int] = mapped_column(Integer)
    repeat_purchasers: Mapped[int] = mapped_column(Integer)
    previous_purchasers: Mapped[int] = mapped_column(Integer)
    retained: Mapped[int] = mapped_column(Integer)
    active: Mapped[int] = mapped_column(Integer)
    referrers: Mapped[int] = mapped_column(Integer)


class ChannelHealth(Base):
    """How each channel's provider has been answering the sender (rewards/channel_health.py):
    since when its sends fail for a reason that is retried (5xx, network), how many failed in
    a row and the last error. One row a channel, written only when that changes, so a healthy
    channel costs nothing; read by ``/healthz/details`` and the worker's progress line."""

    __tablename__ = "channel_health"
    __table_args__ = (CheckConstraint("consecutive_failures >= 0", name="failures_non_negative"),)

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    failing_since: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_failure_at: Mapped[datetime | None]
    recovered_at: Mapped[datetime | None]


# Append-only, in the database's own words: an UPDATE or DELETE of a ledger entry fails
# whoever issues it. (Migration 0002 creates the same triggers.)
APPEND_ONLY_DDL = {
    "sqlite": [
        "CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries"
        " BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END",
        "CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries"
        " BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'ledger entries are append-only'; END $$",
        "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries"
        " FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only()",
    ],
}
for _dialect, _statements in APPEND_ONLY_DDL.items():
    for _statement in _statements:
        event.listen(LedgerEntry.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect))

# PostgreSQL wakes the senders of every process itself: a statement that inserts outbox rows
# NOTIFYs this channel, delivered when (and only if) its transaction commits, whoever wrote
# them, with the schema of the rows as the payload: a sender listens for its own schema only,
# so deployments sharing a database (one schema each) do not wake each other. The senders
# LISTEN on it (web/sender_runtime.py); SQLite senders watch the file. (Migrations 0012 and
# 0013 make the same trigger.)
OUTBOX_NOTIFY_CHANNEL = "loyalty_outbox"
OUTBOX_NOTIFY_DDL = [
    "CREATE FUNCTION outbox_messages_notify() RETURNS trigger LANGUAGE plpgsql AS"
    f" $$ BEGIN PERFORM pg_notify('{OUTBOX_NOTIFY_CHANNEL}', TG_TABLE_SCHEMA); RETURN NULL; END $$",
    "CREATE TRIGGER outbox_messages_notify AFTER INSERT ON outbox_messages"
    " FOR EACH STATEMENT EXECUTE FUNCTION outbox_messages_notify()",
]
for _statement in OUTBOX_NOTIFY_DDL:
    event.listen(OutboxMessage.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))


class ErasedContact(Base):
    """A deleted member's phone number or channel address as a keyed hash (HMAC-SHA256 with
    the program's ``privacy_key``), never the number: joining again from it earns no welcome
    bonus and cannot be referred (rewards/erased_contacts.py)."""

    __tablename__ = "erased_contacts"
    __table_args__ = (UniqueConstraint("program_id", "contact_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    contact_hash: Mapped[str] = mapped_column(String(64))
    erased_at: Mapped[datetime]


class ApiKey(Base):
    """A merchant's key for the REST API. Only its hash is kept; the key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(8), index=True)  # first 8 characters, to find the row
    # sha256 hex of the whole key. A fast hash is right here: a key carries 256 random bits,
    # so there is no dictionary to guess from, unlike a password (which gets a slow hash).
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class CodeAttempt(Base):
    """A failed code look-up, for throttling guesses per actor."""

    __tablename__ = "code_attempts"
    __table_args__ = (Index("ix_code_attempts_actor_at", "program_id", "actor", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]


# --- campaigns (rewards/promotions/campaigns.py, rewards/promotions/fanout.py) --------------------------------

CAMPAIGN_STATUSES = ("scheduled", "sending", "sent", "cancelled", "failed")
OFFER_KINDS = ("none", "multiplier", "coupon")
RECIPIENT_STATUSES = ("queued", "skipped")
SKIP_REASONS = ("no_consent", "opted_out", "no_channel", "over_cap", "whatsapp_window")


class Campaign(Base):
    """A promotion: text, audience filters (rewards/promotions/audiences.py), an optional offer and a
    schedule. ``next_run_at`` is when the next run is due (the send time, or the next cron
    time in the program's zone); NULL once sent, cancelled or failed. ``failed``: a run
    raised (rewards/promotions/campaigns.py ``fail``); ``failed_reason`` says why, for the merchant."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(_in("status", CAMPAIGN_STATUSES), name="status_known"),
        CheckConstraint(_in("offer_kind", OFFER_KINDS), name="offer_kind_known"),
        CheckConstraint(
            "offer_kind <> 'multiplier' OR (multiplier_permille > 1000 AND offer_starts_at IS NOT NULL"
            " AND offer_ends_at > offer_starts_at)",
            name="multiplier_complete",
        ),
        CheckConstraint("offer_kind <> 'coupon' OR reward_id IS NOT NULL", name="coupon_has_reward"),
        CheckConstraint("send_at IS NOT NULL OR cron IS NOT NULL", name="has_schedule"),
        Index("ix_campaigns_due", "status", "next_run_at"),
        Index("ix_campaigns_offer", "program_id", "offer_kind", "offer_ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(String(500))
    audience: Mapped[dict[str, Any]] = mapped_column(JSON)
    offer_kind: Mapped[str] = mapped_column(String(12), default="none")
    multiplier_permille: Mapped[int | None] = mapped_column(Integer)  # 2x -> 2000
    offer_starts_at: Mapped[datetime | None]
    offer_ends_at: Mapped[datetime | None]  # exclusive
    reward_id: Mapped[int | None] = mapped_column(ForeignKey("rewards.id"))
    send_at: Mapped[datetime | None]  # a one-time campaign's send time
    cron: Mapped[str | None] = mapped_column(String(100))  # recurring, in the program's zone
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    next_run_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    failed_reason: Mapped[str | None] = mapped_column(String(300))

    reward: Mapped[Reward | None] = relationship()


class CampaignRun(Base):
    """One sending of a campaign (one for a one-time campaign, one per cron time). Unique on
    its scheduled time, so two clocks that start the same run share one row; ``cursor`` is
    the last member id fanned out, so a fan-out stopped half-way resumes where it was."""

    __tablename__ = "campaign_runs"
    __table_args__ = (
        UniqueConstraint("campaign_id", "scheduled_for"),
        UniqueConstraint("id", "campaign_id", "program_id"),  # the target of the recipients' one foreign key
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    scheduled_for: Mapped[datetime]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    cursor: Mapped[int] = mapped_column(Integer, default=0)


class CampaignRecipient(Base):
    """A member a run targeted: queued (its outbox row's dedupe key is
    ``campaign:<campaign>:<run>:<member>``) or skipped with the reason. Counts per campaign
    and the weekly cap are read from here."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "run_id", "member_id"),
        CheckConstraint(_in("status", RECIPIENT_STATUSES), name="status_known"),
        CheckConstraint(f"reason IS NULL OR {_in('reason', SKIP_REASONS)}", name="reason_known"),
        CheckConstraint("(status = 'skipped') = (reason IS NOT NULL)", name="skipped_has_reason"),
        # One foreign key for run, campaign and program: it also proves they agree, and the
        # database checks one parent row per recipient instead of three (100,000 a campaign).
        ForeignKeyConstraint(["run_id", "campaign_id", "program_id"],
                             ["campaign_runs.id", "campaign_runs.campaign_id", "campaign_runs.program_id"]),
        # The weekly cap: one member's queued campaign messages in the trailing week.
        Index("ix_campaign_recipients_cap", "member_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    program_id: Mapped[int]
    campaign_id: Mapped[int]
    run_id: Mapped[int]
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(20))
    channel: Mapped[str | None] = mapped_column(String(20))
    code_id: Mapped[int | None] = mapped_column(ForeignKey("codes.id"))  # a coupon offer's code
    created_at: Mapped[datetime]


# --- automations (rewards/surveys.py, scheduler/) ----------------------------------------


class Survey(Base):
    """The 0-10 question asked after a purchase (one per purchase, at most one per member
    in ``[automations] survey_every_days``) and its answer, written once."""

    __tablename__ = "surveys"
    __table_args__ = (
        UniqueConstraint("program_id", "purchase_id"),
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 10)", name="score_range"),
        CheckConstraint("(score IS NULL) = (answered_at IS NULL)", name="answered_has_score"),
        # "asked this member lately?" and NPS over a period
        Index("ix_surveys_member_asked", "member_id", "asked_at"),
        # The answers of a period, for NPS (rewards/metrics/).
        Index("ix_surveys_program_answered", "program_id", "answered_at", "score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchases.id"))
    channel: Mapped[str] = mapped_column(String(20))  # where it was asked
    asked_at: Mapped[datetime]
    score: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None]


class StaffUser(Base):
    """Someone who signs in to the merchant console (web/console): an owner, a manager or a
    cashier. Only a slow salted hash of the password is kept (werkzeug.security). Disabled,
    never deleted: the activity log keeps pointing at who did what."""

    __tablename__ = "staff_users"
    __table_args__ = (
        UniqueConstraint("program_id", "email"),
        CheckConstraint("role IN ('owner', 'manager', 'cashier')", name="staff_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    email: Mapped[str] = mapped_column(String(254))  # stored lower-cased
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(8), default="en")
    # Where a campaign's test send goes (optional), in E.164.
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # Bumped when the password changes or the user is disabled: a session cookie made
    # before that stops working (web/console/access.py compares it).
    session_version: Mapped[int] = mapped_column(Integer, default=1)


class StaffActivity(Base):
    """One thing a staff user did in the console (who, what, when, on whom), for the owner
    to read. ``email`` is copied so the line reads the same after the user is renamed."""

    __tablename__ = "staff_activity"
    __table_args__ = (Index("ix_staff_activity_program_at", "program_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    email: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime]


class SignInFailure(Base):
    """A failed console sign-in, counted per account (``scope`` "email") and per client
    address (``scope`` "address") to throttle guessing; ``key`` is a hash, not the
    address or email itself. Old rows are deleted as new ones are counted."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_key_at", "scope", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class AppSecret(Base):
    """A random secret the app makes for itself when the operator gave none (the console's
    session key without SECRET_KEY), kept here so every process and machine share it."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
