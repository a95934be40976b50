"""Readers: image folders and delimited text into train / val / test splits."""

from transferkit.data._dataset import Dataset, DataSplits, Skipped, check_trainable
from transferkit.data._read import read_data

__all__ = ["DataSplits", "Dataset", "Skipped", "check_trainable", "read_data"]
