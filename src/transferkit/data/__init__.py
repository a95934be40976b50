"""Readers: image folders, delimited text and tables into a `Dataset` (inputs, labels,
class names) and its `DataSplits` (train / val / test). Bad rows and files are skipped
and counted, never silently; symbolic links are followed, loops refused."""

from transferkit.data._dataset import Dataset, DataSplits, Skipped, check_trainable
from transferkit.data._read import read_data

__all__ = ["DataSplits", "Dataset", "Skipped", "check_trainable", "read_data"]
