"""The Stripe stand-in: the ``/v1`` API, hosted Checkout, webhooks and test controls.

Invoices and tax (DESIGN §21; ``checkout_billing``, ``invoices``, ``tax``, ``invoice_pages``):

- Checkout Sessions take ``invoice_creation[enabled]`` (+ ``invoice_data[description|footer|
  metadata]``), ``automatic_tax[enabled]``, ``billing_address_collection=required``,
  ``tax_id_collection[enabled]`` and, with ``customer``, ``customer_update[name|address]=auto``;
  any other name inside them is refused as Stripe refuses it (``parameter_unknown``, or a 400
  saying the stand-in does not implement it: ``automatic_tax[liability]``…).
- The hosted page asks for the billing address (and a VAT number with tax id collection);
  its JSON form takes ``{"outcome": "succeeded", "billing": {"name": …, "address":
  {"line1", "postal_code", "city", "country", …}, "tax_id": "FR12345678901"}}``.
- Tax (``tax.py``): the seller is in Germany; DE 19 %, FR 20 %… (``tax.RATES``), the EU reverse
  charge (0 %) for a business with a VAT number of another EU country, none elsewhere. Tax is
  added on top: ``amount_subtotal`` is the price, ``total_details.amount_tax`` the tax,
  ``amount_total`` what was charged.
- A paid session with invoice creation names its Invoice in ``invoice`` (its Customer is
  created at completion when there was none); ``invoice.created``, ``invoice.finalized``,
  ``invoice.paid`` and ``invoice.payment_succeeded`` come before ``checkout.session.completed``
  (after the payment settles, for a delayed one). The Invoice has ``number``, ``subtotal``,
  ``total_taxes``, ``total``, ``hosted_invoice_url`` (``/i/<id>``) and ``invoice_pdf``
  (``/i/<id>/pdf``); ``expand[]=payments`` names the PaymentIntent that paid it.
- Invoices API for top-ups: ``POST /v1/invoices`` (draft; ``automatic_tax``,
  ``pending_invoice_items_behavior``), ``POST /v1/invoiceitems`` (``invoice``, ``price`` or
  ``amount`` + ``currency``), ``POST /v1/invoices/<id>/finalize``, ``POST /v1/invoices/<id>/pay``
  (``payment_method``, ``off_session=true``: the saved test card decides, a 402 and
  ``invoice.payment_failed`` on a decline), ``GET /v1/invoices/<id>``.
"""
