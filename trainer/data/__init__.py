"""Data sets (synthetic, COMPAS, AdultCensus, user files), splits and poisoning attacks."""

from trainer.data.base import Dataset, Split

__all__ = ["Dataset", "Split"]
