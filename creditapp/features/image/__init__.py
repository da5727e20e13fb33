"""Image generation: the feature, its providers, its pages and API."""
