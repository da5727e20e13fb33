"""The Stripe stand-in: the ``/v1`` API, hosted Checkout, webhooks and test controls."""
