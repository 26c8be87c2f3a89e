"""Data: phase datasets (exact and DMRG ground states), MPS containers, on-disk cache, and MNIST
images with patch extraction and amplitude encoding (QuCNN)."""

from qnnlab.data.datasets import Dataset, build_dataset, load_dataset
from qnnlab.data.images import amplitude_encode, as_image_batch, extract_patches, output_size
from qnnlab.data.mnist import MNIST, MNISTError, load_mnist, load_mnist_split, mnist_split
from qnnlab.data.mps import MPS, random_mps
from qnnlab.data.phases import FAMILIES, DatasetConfigError, resolve_config
from qnnlab.data.store import DatasetFormatError, default_cache_dir

__all__ = [
    "FAMILIES",
    "MNIST",
    "MPS",
    "Dataset",
    "DatasetConfigError",
    "DatasetFormatError",
    "MNISTError",
    "amplitude_encode",
    "as_image_batch",
    "build_dataset",
    "default_cache_dir",
    "extract_patches",
    "load_dataset",
    "load_mnist",
    "load_mnist_split",
    "mnist_split",
    "output_size",
    "random_mps",
    "resolve_config",
]
