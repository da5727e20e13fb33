"""Paid features: each is a small module registered in `registry`, charged by `service`."""
