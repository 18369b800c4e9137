"""Turn a dataset spec (a name, a synthetic spec or a path) into a Graph.

This is the one place that knows where datasets live, so that ``pargnn train --dataset cora``,
the Python API and the tests resolve names the same way and fail with the same useful message.
A spec is, in order of precedence:

1. a synthetic spec, ``rmat:...`` or ``sbm:...``, handed to :mod:`pargnn.graph.synthetic`;
2. a named dataset (:data:`NAMED_DATASETS`), looked for under the data root;
3. a path to a dataset file or folder, whose format is detected: a folder holding
   ``ind.<name>.x`` (Planetoid raw files; its ``raw/`` subfolder is looked in too), a folder
   holding ``edges.csv`` (karateclub CSV), a ``.npz`` file (pargnn npz), or an edge list
   (``.txt``, ``.edges``, ``.el``, ``.tsv``) with its sidecar files.

The data root is the ``data_root`` argument (the CLI's ``--data-root``), else the environment
variable ``PARGNN_DATA``, else ``<user cache>/pargnn/datasets``. Nothing is downloaded: the
machines pargnn runs on often cannot reach the internet, and a download inside a distributed
job would race between ranks. A dataset that is not there is a
:class:`~pargnn.errors.DatasetError` listing the paths looked for, the data root used and how
to get the files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from pargnn.errors import DatasetError
from pargnn.graph.graph import Graph
from pargnn.graph.loaders.csv_karateclub import KARATECLUB_FILES, load_karateclub
from pargnn.graph.loaders.edgelist import EDGELIST_SUFFIXES, load_edgelist
from pargnn.graph.loaders.npz import load_npz
from pargnn.graph.loaders.planetoid import PLANETOID_PARTS, load_planetoid

DATA_ENV = "PARGNN_DATA"
SYNTHETIC_GENERATORS: tuple[str, ...] = ("rmat", "sbm")
SYNTHETIC_FORMS = (
    "rmat:nodes=N,degree=D[,features=F,classes=C,seed=S]",
    "sbm:nodes=N,blocks=B[,p_in=P,p_out=Q or degree=D,homophily=H][,features=F,seed=S]",
)
_PLANETOID_X = re.compile(r"^ind\.(?P<name>[A-Za-z0-9_-]+)\.x$")
_PLANETOID_FILE = re.compile(
    r"^ind\.(?P<name>[A-Za-z0-9_-]+)\.(?:" + "|".join(re.escape(p) for p in PLANETOID_PARTS) + ")$"
)

_PLANETOID_HOW = (
    "download the eight raw files ind.{name}.{{x,tx,allx,y,ty,ally,graph,test.index}} from "
    "https://github.com/kimiyoung/planetoid/tree/master/data"
)


@dataclass(frozen=True)
class NamedDataset:
    """A dataset pargnn knows by name, and where under the data root its files live."""

    name: str
    relative_path: str
    description: str
    how_to_get: str
    format: str  # "planetoid" or "karateclub"
    files: tuple[str, ...]

    def folder(self, root: Path) -> Path:
        return root / self.relative_path

    def paths(self, root: Path) -> tuple[Path, ...]:
        """Every file the dataset needs, under ``root``."""
        return tuple(self.folder(root) / f for f in self.files)


def _planetoid(name: str, folder: str, description: str) -> NamedDataset:
    return NamedDataset(
        name=name,
        relative_path=f"planetoid/{folder}/raw",
        description=description,
        how_to_get=_PLANETOID_HOW.format(name=name),
        format="planetoid",
        files=tuple(f"ind.{name}.{part}" for part in PLANETOID_PARTS),
    )


NAMED_DATASETS: tuple[NamedDataset, ...] = (
    _planetoid("cora", "Cora", "Cora citations: 2,708 papers, 7 classes, public split"),
    _planetoid("citeseer", "CiteSeer", "CiteSeer citations: 3,327 papers, 6 classes, public split"),
    NamedDataset(
        name="twitch-engb",
        relative_path="twitch-engb",
        description="Twitch EN-GB streamers: 7,126 users, 2 classes, random 60/20/20 split",
        how_to_get=(
            "download edges.csv, features.csv and target.csv from "
            "https://github.com/benedekrozemberczki/karateclub/tree/master/dataset/node_level/twitch"
        ),
        format="karateclub",
        files=KARATECLUB_FILES,
    ),
)


def named_dataset(name: str) -> NamedDataset | None:
    """The named dataset called ``name`` (case-insensitive), or ``None``."""
    key = name.strip().lower()
    return next((d for d in NAMED_DATASETS if d.name == key), None)


def default_data_root() -> Path:
    """``$PARGNN_DATA`` if set, else ``<user cache>/pargnn/datasets``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return platformdirs.user_cache_path("pargnn") / "datasets"


def _resolve_root(data_root: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The data root and where it came from, for error messages."""
    if data_root is not None:
        return Path(data_root).expanduser(), "given with --data-root / data_root"
    if os.environ.get(DATA_ENV):
        return default_data_root(), f"from ${DATA_ENV}"
    return default_data_root(), f"the default; ${DATA_ENV} is not set"


def load_dataset(spec: str, data_root: str | os.PathLike[str] | None = None) -> Graph:
    """Load the dataset that ``spec`` names (see the module docstring for the forms).

    Args:
        spec: ``rmat:...``/``sbm:...``, a named dataset (``cora``, ``citeseer``,
            ``twitch-engb``) or a path.
        data_root: where named datasets live; defaults to :func:`default_data_root`.

    Raises:
        DatasetError: the dataset cannot be found, read or trusted; the message says why and
            how to fix it.
    """
    spec = spec.strip()
    prefix = spec.split(":", 1)[0].strip().lower()
    if ":" in spec and prefix in SYNTHETIC_GENERATORS:
        from pargnn.graph.synthetic import from_spec  # the module is written alongside

        return from_spec(spec)
    named = named_dataset(spec)
    if named is not None:
        return _load_named(named, data_root)
    path = Path(spec).expanduser()
    if path.exists():
        return load_path(path)
    raise DatasetError(_unknown_message(spec, path, data_root))


def _load_named(named: NamedDataset, data_root: str | os.PathLike[str] | None) -> Graph:
    root, origin = _resolve_root(data_root)
    folder = named.folder(root)
    missing = [p for p in named.paths(root) if not p.is_file()]
    if missing:
        raise DatasetError(_missing_message(named, root, origin, missing))
    if named.format == "planetoid":
        return load_planetoid(folder, named.name)
    return load_karateclub(folder, name=named.name)


def _missing_message(named: NamedDataset, root: Path, origin: str, missing: list[Path]) -> str:
    folder = named.folder(root)
    if not folder.is_dir():
        looked = (
            f"Looked for {folder / named.files[0]}, but the folder {folder} does not exist "
            f"(it should hold {', '.join(named.files)})"
        )
    else:
        looked = f"Looked in {folder}; missing: {', '.join(str(p) for p in missing)}"
    layout = f"DIR/{named.relative_path}/{named.files[0]}"
    if len(named.files) > 1:
        layout += f" (with {', '.join(named.files[1:])} beside it)"
    return (
        f"dataset {named.name!r} not found under the data root {root} ({origin}). {looked}. "
        f"To get it: {named.how_to_get}, and put them where pargnn looks: the layout is "
        f"{layout}, with DIR given as --data-root DIR or the environment variable {DATA_ENV}."
    )


def _unknown_message(spec: str, path: Path, data_root: str | os.PathLike[str] | None) -> str:
    root, origin = _resolve_root(data_root)
    names = ", ".join(f"{d.name} ({d.description})" for d in NAMED_DATASETS)
    looks_like_path = os.sep in spec or "/" in spec or bool(path.suffix)
    head = (
        f"no such file or folder: {path.resolve()}"
        if looks_like_path
        else f"unknown dataset {spec!r}: it is not a named dataset, a synthetic spec, or an "
        f"existing file or folder"
    )
    return (
        f"{head}. Named datasets (looked for under the data root {root}, {origin}): {names}. "
        f"Synthetic graphs need no files: {' or '.join(SYNTHETIC_FORMS)}. A path may name a "
        f"Planetoid raw folder (ind.<name>.*), a karateclub CSV folder (edges.csv, "
        f"features.csv, target.csv), a .npz file, or an edge list "
        f"({', '.join(EDGELIST_SUFFIXES)}) with <stem>.features.* and <stem>.labels.* beside it."
    )


def load_path(path: str | os.PathLike[str]) -> Graph:
    """Load a dataset file or folder, detecting its format (see the module docstring)."""
    path = Path(path)
    if path.is_dir():
        return _load_folder(path)
    match = _PLANETOID_FILE.match(path.name)
    if match:
        return load_planetoid(path.parent, match["name"])
    if path.name == "edges.csv":
        return load_karateclub(path.parent)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return load_npz(path)
    if suffix in EDGELIST_SUFFIXES:
        return load_edgelist(path)
    raise DatasetError(
        f"{path}: unknown dataset format (suffix {suffix or 'none'!r}); pargnn reads .npz files, "
        f"edge lists ({', '.join(EDGELIST_SUFFIXES)}), Planetoid ind.<name>.* files and "
        f"karateclub CSV folders"
    )


def _planetoid_names(folder: Path) -> list[str]:
    try:
        entries = sorted(p.name for p in folder.iterdir())
    except OSError as exc:
        raise DatasetError(f"{folder}: cannot list the folder ({exc})") from None
    return [m["name"] for m in map(_PLANETOID_X.match, entries) if m]


def _load_folder(folder: Path) -> Graph:
    for candidate in (folder, folder / "raw"):
        if not candidate.is_dir():
            continue
        names = _planetoid_names(candidate)
        if len(names) > 1:
            raise DatasetError(
                f"{candidate}: holds several Planetoid datasets ({', '.join(names)}); "
                f"name one file, e.g. {candidate / f'ind.{names[0]}.x'}"
            )
        if names:
            return load_planetoid(candidate, names[0])
    if (folder / "edges.csv").is_file():
        return load_karateclub(folder)
    raise DatasetError(
        f"{folder}: no dataset recognised in this folder; looked for Planetoid files "
        f"{folder / 'ind.<name>.x'} (or under {folder / 'raw'}) and a karateclub "
        f"{folder / 'edges.csv'}"
    )


def describe_datasets(data_root: str | os.PathLike[str] | None = None) -> list[dict[str, object]]:
    """One row per named dataset: name, description, path looked in, found, how to get it."""
    root, _ = _resolve_root(data_root)
    return [
        {
            "name": d.name,
            "description": d.description,
            "path": str(d.folder(root)),
            "found": all(p.is_file() for p in d.paths(root)),
            "how_to_get": d.how_to_get,
        }
        for d in NAMED_DATASETS
    ]
