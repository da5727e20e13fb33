"""Services: the rules, taking plain ids (billing, webhooks, sign-in)."""
