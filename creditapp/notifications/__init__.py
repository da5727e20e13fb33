"""Notifications: the e-mail outbox's composing and sending."""
