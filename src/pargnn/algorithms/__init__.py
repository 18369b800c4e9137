"""The algorithms that lay a model's steps out over processes, one package per family.

* :mod:`~pargnn.algorithms.contract`: what a layer may ask of an algorithm;
* :mod:`~pargnn.algorithms.single`: the single-process algorithm, the reference;
* :mod:`~pargnn.algorithms.family` and :mod:`~pargnn.algorithms.registry`: what a family
  declares, and the list of families;
* one package per family: :mod:`~pargnn.algorithms.grid` (1d, 2d, 3d),
  :mod:`~pargnn.algorithms.one_five_d` (1.5d), :mod:`~pargnn.algorithms.sparsity_aware`
  (sa1d), :mod:`~pargnn.algorithms.sparsity_aware_replicated` (sa1.5d);
* shared by the families: :mod:`~pargnn.algorithms.prepare` (the prepared graph and each
  rank's cut of it), :mod:`~pargnn.algorithms.paired` (an SpMM whose backward is another),
  :mod:`~pargnn.algorithms.block_attention` (the per-block arithmetic of attention);
* :mod:`~pargnn.algorithms.recording`: the algorithm that records a model's steps for the
  cost models, and :mod:`~pargnn.algorithms.exact`: the exact model of any family.

This package's ``__init__`` imports nothing, so that importing the contract does not load
every family.
"""
