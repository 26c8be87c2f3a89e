"""Quantum data: phase datasets (exact and DMRG ground states), MPS containers, on-disk cache."""

from qnnlab.data.datasets import Dataset, build_dataset, load_dataset
from qnnlab.data.mps import MPS, random_mps
from qnnlab.data.phases import FAMILIES, DatasetConfigError, resolve_config
from qnnlab.data.store import DatasetFormatError, default_cache_dir

__all__ = [
    "FAMILIES",
    "MPS",
    "Dataset",
    "DatasetConfigError",
    "DatasetFormatError",
    "build_dataset",
    "default_cache_dir",
    "load_dataset",
    "random_mps",
    "resolve_config",
]
