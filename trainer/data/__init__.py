"""Data sets (synthetic, COMPAS, AdultCensus, user files), splits and poisoning attacks."""

from trainer.data.adult import load_adult
from trainer.data.base import Dataset, Split
from trainer.data.compas import encode_crowd_examples, load_compas
from trainer.data.generate import generate_synthetic
from trainer.data.poison import PoisonResult, paudice_greedy_flips, poison, top_margin_flips
from trainer.data.splits import stratified_split
from trainer.data.synthetic import default_data_dir, load_synthetic, load_synthetic_arrays
from trainer.data.tabular import (
    DataError,
    EmptyDataError,
    EncodingError,
    LabelError,
    MissingColumnError,
    load_table,
    read_validation,
    replace_validation,
)

__all__ = [
    "DataError",
    "Dataset",
    "EmptyDataError",
    "EncodingError",
    "LabelError",
    "MissingColumnError",
    "PoisonResult",
    "Split",
    "default_data_dir",
    "encode_crowd_examples",
    "generate_synthetic",
    "load_adult",
    "load_compas",
    "load_synthetic",
    "load_synthetic_arrays",
    "load_table",
    "paudice_greedy_flips",
    "poison",
    "read_validation",
    "replace_validation",
    "stratified_split",
    "top_margin_flips",
]
