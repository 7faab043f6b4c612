"""The Crysformer surrogate (lands with the Crysformer issue)."""
