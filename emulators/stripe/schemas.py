"""What each ``/v1`` route accepts: the parameters it implements, typed as Stripe types them.

Names Stripe has for a route but the stand-in does not implement are listed as
``unsupported`` and refused with a 400 that says so; any other name is ``parameter_unknown``.
"""

from __future__ import annotations

from .event_types import EVENT_TYPES
from .params import (
    Array,
    Boolean,
    BooleanOrEnum,
    Enum,
    Hash,
    Integer,
    List,
    Metadata,
    Params,
    String,
    Timestamp,
)

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
SESSION_STATUSES = ("complete", "expired", "open")
LOCALES = (
    "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil", "fr",
    "fr-CA", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt",
    "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
)  # fmt: skip

RETRIEVE = Params()

PRODUCT_LIST = List({"active": Boolean()}, unsupported="ids shippable url")
PRODUCT_CREATE = Params(
    {"name": String(), "active": Boolean(), "description": String(40000), "metadata": Metadata()},
    required=("name",),
    unsupported=(
        "default_price_data id images marketing_features package_dimensions shippable "
        "statement_descriptor tax_code unit_label url"
    ),
)

PRICE_LIST = List(
    {
        "active": Boolean(),
        "currency": String(),
        "lookup_keys": Array(String(), max_items=10),
        "product": String(),
        "type": Enum("one_time", "recurring"),
    },
    unsupported="recurring",
)
PRICE_CREATE = Params(
    {
        "currency": String(),
        "unit_amount": Integer(0),
        "product": String(),
        "product_data": Hash(
            {"name": String(), "active": Boolean(), "metadata": Metadata()},
            required=("name",),
            unsupported="id statement_descriptor tax_code unit_label",
        ),
        "lookup_key": String(200),
        "transfer_lookup_key": Boolean(),
        "nickname": String(),
        "metadata": Metadata(),
        "active": Boolean(),
    },
    required=("currency",),
    unsupported=(
        "billing_scheme currency_options custom_unit_amount recurring tax_behavior tiers "
        "tiers_mode transform_quantity unit_amount_decimal"
    ),
)
PRICE_UPDATE = Params(
    {
        "active": Boolean(),
        "lookup_key": String(200, empty_unsets=True),
        "transfer_lookup_key": Boolean(),
        "nickname": String(empty_unsets=True),
        "metadata": Metadata(),
    },
    unsupported="currency_options tax_behavior",
)

# Stripe Tax on a Checkout Session or an Invoice (the stand-in's rates: emulators/stripe/tax.py).
AUTOMATIC_TAX = Hash({"enabled": Boolean()}, required=("enabled",), unsupported="liability")

SESSION_CREATE = Params(
    {
        "mode": Enum("payment", "setup", "subscription"),
        "line_items": Array(
            Hash(
                {"price": String(), "quantity": Integer(1)},
                unsupported="adjustable_quantity dynamic_tax_rates price_data tax_rates",
            )
        ),
        "success_url": String(),
        "cancel_url": String(),
        "client_reference_id": String(200),
        "customer_email": String(),
        "metadata": Metadata(),
        "payment_intent_data": Hash(
            {
                "metadata": Metadata(),
                "description": String(1000),
                "setup_future_usage": Enum("off_session", "on_session"),
            },
            unsupported=(
                "application_fee_amount capture_method on_behalf_of receipt_email "
                "shipping statement_descriptor statement_descriptor_suffix "
                "transfer_data transfer_group"
            ),
        ),
        "customer": String(),
        "expires_at": Timestamp(),
        "locale": Enum(*LOCALES),
        "submit_type": Enum("auto", "book", "donate", "pay"),
        "billing_address_collection": Enum("auto", "required"),
        "allow_promotion_codes": Boolean(),
        "customer_creation": Enum("always", "if_required"),
        "invoice_creation": Hash(
            {
                "enabled": Boolean(),
                "invoice_data": Hash(
                    {"description": String(1500), "footer": String(), "metadata": Metadata()},
                    unsupported="account_tax_ids custom_fields issuer rendering_options",
                ),
            },
            required=("enabled",),
        ),
        "automatic_tax": AUTOMATIC_TAX,
        "tax_id_collection": Hash({"enabled": Boolean()}, required=("enabled",), unsupported="required"),
        "customer_update": Hash(
            {"name": Enum("auto", "never"), "address": Enum("auto", "never")}, unsupported="shipping"
        ),
    },
    unsupported=(
        "after_expiration consent_collection currency custom_fields custom_text discounts "
        "payment_method_collection payment_method_configuration payment_method_data "
        "payment_method_options payment_method_types phone_number_collection "
        "redirect_on_completion return_url saved_payment_method_options setup_intent_data "
        "shipping_address_collection shipping_options subscription_data ui_mode"
    ),
)
SESSION_LIST = List(
    {
        "status": Enum(*SESSION_STATUSES),
        "payment_intent": String(),
        "customer_details": Hash({"email": String()}, required=("email",)),
    },
    unsupported="customer payment_link subscription",
)
LINE_ITEM_LIST = List(created=False)
SESSION_EXPIRE = Params()

PAYMENT_INTENT_LIST = List({"customer": String()})
PAYMENT_INTENT_CREATE = Params(
    {
        "amount": Integer(),
        "currency": String(),
        "customer": String(),
        "payment_method": String(),
        "confirm": Boolean(),
        "off_session": BooleanOrEnum("one_off", "recurring"),
        "description": String(1000),
        "metadata": Metadata(),
        "confirmation_method": Enum("automatic", "manual"),
    },
    required=("amount", "currency"),
    unsupported=(
        "application_fee_amount automatic_payment_methods capture_method confirmation_token "
        "error_on_requires_action mandate mandate_data on_behalf_of payment_method_configuration "
        "payment_method_data payment_method_options payment_method_types radar_options "
        "receipt_email return_url setup_future_usage shipping statement_descriptor "
        "statement_descriptor_suffix transfer_data transfer_group use_stripe_sdk"
    ),
)
CUSTOMER_CREATE = Params(
    {"email": String(512), "name": String(256), "description": String(), "metadata": Metadata()},
    unsupported=(
        "address balance cash_balance coupon invoice_prefix invoice_settings next_invoice_sequence "
        "payment_method phone preferred_locales promotion_code shipping source tax tax_exempt "
        "tax_id_data test_clock"
    ),
)
PAYMENT_METHOD_LIST = List({"customer": String(), "type": String()}, created=False)
PAYMENT_METHOD_DETACH = Params()
PAYMENT_INTENT_RETRIEVE = Params(unsupported="client_secret")
CHARGE_LIST = List({"payment_intent": String()}, unsupported="customer transfer_group")
CHARGE_REFUND_LIST = List(created=False)

REFUND_CREATE = Params(
    {
        "charge": String(),
        "payment_intent": String(),
        "amount": Integer(),
        "reason": Enum(*REFUND_REASONS),
        "metadata": Metadata(),
    },
    unsupported=("currency customer instructions_email origin refund_application_fee reverse_transfer"),
)
REFUND_LIST = List({"charge": String(), "payment_intent": String()})
DISPUTE_LIST = List({"charge": String(), "payment_intent": String()})
DISPUTE_CLOSE = Params()

EVENT_LIST = List({"type": String(), "types": Array(String(), max_items=20), "delivery_success": Boolean()})

_EVENT_TYPE = Enum("*", *sorted(EVENT_TYPES))
WEBHOOK_ENDPOINT_CREATE = Params(
    {
        "url": String(),
        "enabled_events": Array(_EVENT_TYPE),
        "api_version": String(),
        "description": String(),
        "metadata": Metadata(),
    },
    required=("url", "enabled_events"),
    unsupported="connect",
)
WEBHOOK_ENDPOINT_UPDATE = Params(
    {
        "url": String(),
        "enabled_events": Array(_EVENT_TYPE),
        "description": String(empty_unsets=True),
        "disabled": Boolean(),
        "metadata": Metadata(),
    }
)
WEBHOOK_ENDPOINT_LIST = List(created=False)
WEBHOOK_ENDPOINT_DELETE = Params(expand=False)

INVOICEITEM_CREATE = Params(
    {
        "customer": String(),
        "invoice": String(),
        "price": String(),
        "pricing": Hash({"price": String()}, unsupported="unit_amount_decimal"),
        "quantity": Integer(0),
        "amount": Integer(),
        "unit_amount": Integer(),
        "currency": String(),
        "description": String(),
        "metadata": Metadata(),
    },
    required=("customer",),
    unsupported=(
        "discountable discounts period price_data subscription tax_behavior tax_code tax_rates "
        "unit_amount_decimal"
    ),
)
INVOICE_CREATE = Params(
    {
        "customer": String(),
        "auto_advance": Boolean(),
        "automatic_tax": AUTOMATIC_TAX,
        "collection_method": Enum("charge_automatically", "send_invoice"),
        "currency": String(),
        "default_payment_method": String(),
        "description": String(1500),
        "footer": String(),
        "metadata": Metadata(),
        "pending_invoice_items_behavior": Enum("exclude", "include"),
    },
    unsupported=(
        "account_tax_ids application_fee_amount custom_fields days_until_due default_source "
        "default_tax_rates discounts due_date effective_at from_invoice issuer number on_behalf_of "
        "payment_settings rendering shipping_cost shipping_details statement_descriptor "
        "subscription transfer_data"
    ),
)
INVOICE_FINALIZE = Params({"auto_advance": Boolean()})
INVOICE_PAY = Params(
    {"off_session": Boolean(), "payment_method": String(), "forgive": Boolean()},
    unsupported="mandate paid_out_of_band source",
)
