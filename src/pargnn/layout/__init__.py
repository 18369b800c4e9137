"""Layouts: who holds which vertex rows and feature columns, and on which process grid.

* :mod:`~pargnn.layout.spec`: a grid's shape (:class:`~pargnn.layout.spec.GridSpec`) and the
  shapes a number of processes allows;
* :mod:`~pargnn.layout.mesh`: the DeviceMesh that realises a grid, with named dimensions;
* :mod:`~pargnn.layout.offsets`: balanced vertex blocks and the grid layout of a dense matrix;
* :mod:`~pargnn.layout.places`: one process's place on a grid (its coordinates, groups and
  blocks), what every algorithm's collectives are written against.
"""
