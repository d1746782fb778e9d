"""Every model, re-exported so Alembic autogenerate sees them."""

from astronote.models.attribution import AttributionReason, OrderAttribution, OrderRefund
from astronote.models.automation import Automation, AutomationRun, RunStatus
from astronote.models.base import Base, now_utc
from astronote.models.billing import (
    FINAL_PURCHASE_STATES,
    BillingPurchase,
    BillingSettings,
    BillingSubscription,
    PurchaseKind,
    PurchaseStatus,
)
from astronote.models.campaign import (
    FINAL_STATES,
    PENDING_STATES,
    Campaign,
    CampaignStatus,
    Message,
    MessageStatus,
    UnmatchedDeliveryReport,
)
from astronote.models.contact import (
    ConsentEvent,
    ConsentSource,
    ConsentState,
    Contact,
    ContactTag,
    Gender,
    ShopContactCount,
)
from astronote.models.contact_import import (
    ContactImport,
    ContactImportChunk,
    ContactImportError,
    ImportStatus,
)
from astronote.models.credit import CreditBalance, CreditLedgerEntry, LedgerKind
from astronote.models.discount import (
    CampaignDiscount,
    DiscountCode,
    DiscountCodeBatch,
    DiscountState,
)
from astronote.models.flow_stats import RUN_OUTCOME_INDEX
from astronote.models.inbound import InboundMessage, ShopSenderNumber, StorefrontSubmission
from astronote.models.link import LinkClick, LinkSet, LinkSourceStats, MessageClick
from astronote.models.report import ReportDaily, ReportMonthly
from astronote.models.shop import Shop
from astronote.models.shopify import (
    AbandonedCheckout,
    ComplianceRecord,
    CustomerDataExport,
    CustomerSync,
    Order,
    WebhookEvent,
)
from astronote.models.template import LibraryTemplateUse, MessageTemplate

__all__ = [
    "FINAL_PURCHASE_STATES",
    "BillingPurchase",
    "BillingSettings",
    "BillingSubscription",
    "PurchaseKind",
    "PurchaseStatus",
    "Automation",
    "AutomationRun",
    "RunStatus",
    "InboundMessage",
    "ShopSenderNumber",
    "StorefrontSubmission",
    "FINAL_STATES",
    "RUN_OUTCOME_INDEX",
    "PENDING_STATES",
    "Campaign",
    "CampaignStatus",
    "CampaignDiscount",
    "DiscountCode",
    "DiscountCodeBatch",
    "DiscountState",
    "CreditBalance",
    "CreditLedgerEntry",
    "LedgerKind",
    "LinkClick",
    "LinkSet",
    "LinkSourceStats",
    "LibraryTemplateUse",
    "MessageTemplate",
    "MessageClick",
    "ReportDaily",
    "ReportMonthly",
    "Message",
    "MessageStatus",
    "UnmatchedDeliveryReport",
    "AbandonedCheckout",
    "ComplianceRecord",
    "CustomerDataExport",
    "CustomerSync",
    "Order",
    "OrderAttribution",
    "OrderRefund",
    "AttributionReason",
    "WebhookEvent",
    "Base",
    "ConsentEvent",
    "ConsentSource",
    "ConsentState",
    "Contact",
    "ContactImport",
    "ContactImportChunk",
    "ContactImportError",
    "ContactTag",
    "Gender",
    "ImportStatus",
    "Shop",
    "ShopContactCount",
    "now_utc",
]
