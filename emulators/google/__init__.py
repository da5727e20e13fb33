"""The Google OpenID Connect stand-in under ``/google/``."""
