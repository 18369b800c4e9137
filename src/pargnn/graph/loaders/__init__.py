"""Readers that turn dataset files into a validated :class:`~pargnn.graph.Graph`.

One module per format, each reading the files in place (nothing is copied or cached) and turning
every problem a user can fix (a missing file, an unparsable cell, an untrusted pickle) into a
:class:`~pargnn.errors.DatasetError` naming the file:

* :func:`load_planetoid`: the raw Planetoid ``ind.<name>.*`` files (Cora, CiteSeer, PubMed), read
  with a restricted unpickler, with the public split.
* :func:`load_karateclub`: a karateclub CSV folder (``edges.csv``, ``features.csv``,
  ``target.csv``), such as twitch-engb.
* :func:`load_npz` / :func:`save_npz`: pargnn's own ``.npz`` format.
* :func:`load_edgelist`: a text edge list with feature and label sidecar files.
* :func:`from_pyg`: a ``torch_geometric.data.Data`` or a duck-typed equivalent.

Every loader refuses data that disagrees with itself, before anything is sized from it: the
vertex count comes from what the dataset *lists* (karateclub: the rows of ``target.csv``; edge
list: the feature rows; Planetoid: the feature rows and adjacency keys; npz and PyG: the arrays'
lengths), never from the largest id, so an id outside that range is a ``DatasetError`` naming the
file, the line (or array position) and the valid range; a vertex listed twice is refused,
naming both lines. A split without training vertices is refused by
:class:`~pargnn.graph.Graph` (a :class:`~pargnn.errors.GraphError`), whichever loader built it.

:func:`pargnn.graph.datasets.load_dataset` picks the loader from a name or path.
"""

from pargnn.graph.loaders.csv_karateclub import load_karateclub
from pargnn.graph.loaders.edgelist import EDGELIST_SUFFIXES, load_edgelist
from pargnn.graph.loaders.npz import load_npz, save_npz
from pargnn.graph.loaders.planetoid import load_planetoid
from pargnn.graph.loaders.pyg import from_pyg

__all__ = [
    "EDGELIST_SUFFIXES",
    "from_pyg",
    "load_edgelist",
    "load_karateclub",
    "load_npz",
    "load_planetoid",
    "save_npz",
]
