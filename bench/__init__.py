"""Benchmarks (`python -m bench`): ratios measured side by side in one run."""
