"""Image generation: the feature (`feature.ImageGeneration`) and its providers; its pages and
API are the kit's."""
