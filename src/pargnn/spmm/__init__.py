"""Sparse-times-dense aggregation: local kernels and the algorithms that distribute them."""

from pargnn.spmm.contract import Algorithm, Counts, LocalData
from pargnn.spmm.local import SparseOperator, spmm
from pargnn.spmm.single import SingleProcess

__all__ = ["Algorithm", "Counts", "LocalData", "SingleProcess", "SparseOperator", "spmm"]
