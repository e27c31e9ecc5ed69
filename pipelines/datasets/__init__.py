"""Datasets: generate realistic class-per-folder JPEG trees offline, or check a user's own folder."""

from pipelines.datasets.generate import GeneratedDataset, dataset_folder_name, generate
from pipelines.datasets.manifest import Manifest, read_manifest
from pipelines.datasets.resolve import count_images, prepare_dataset
from pipelines.datasets.validate import DatasetError, DatasetIndex, index_dataset, validate_dataset

__all__ = [
    "DatasetError",
    "DatasetIndex",
    "GeneratedDataset",
    "Manifest",
    "count_images",
    "dataset_folder_name",
    "generate",
    "index_dataset",
    "prepare_dataset",
    "read_manifest",
    "validate_dataset",
]
