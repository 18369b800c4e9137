"""Seeded train/validation/test splits for graphs that ship without one.

Most graphs outside the Planetoid benchmarks (the karateclub CSV sets, edge lists, synthetic
graphs) have no official split. A split drawn here is a pure function of the labels and the seed,
so two runs (or two ranks of one distributed run) that load the same graph train and evaluate on
the same vertices without having to communicate.

Only labelled vertices (``label >= 0``) are split; unlabelled ones (``-1``) stay out of every mask,
as :class:`~pargnn.graph.Graph` requires.

With the default fractions (60/20/20) any graph with at least one labelled vertex gets at least
one training vertex (``round(0.6 * 1) == 1``). A smaller ``train`` can round the train split down
to nothing (``round(0.2 * 2) == 0``); :class:`~pargnn.graph.Graph` refuses such a split with a
message saying to label more vertices or raise the fraction, and the synthetic generators refuse
the fraction up front. Empty validation and test splits are allowed.
"""

from __future__ import annotations

import numpy as np

from pargnn.errors import ConfigError


def random_split(
    labels: np.ndarray, train: float = 0.6, val: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the labelled vertices at random into disjoint train/val/test masks.

    Args:
        labels: class per vertex, shape ``(n,)``; ``-1`` (any negative value) marks an
            unlabelled vertex, which goes into no mask.
        train: fraction of the labelled vertices for training.
        val: fraction for validation; the rest (``1 - train - val``) is the test set.
        seed: seed of the :class:`numpy.random.Generator` that draws the permutation.

    Returns:
        ``(train_mask, val_mask, test_mask)``: boolean arrays of shape ``(n,)``. With ``m``
        labelled vertices the sizes are ``round(train * m)``, ``round(val * m)`` and the rest.

    Raises:
        ConfigError: when a fraction is negative or ``train + val`` exceeds 1.
    """
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ConfigError(f"random_split: labels must be 1-D, got shape {y.shape}")
    if train < 0 or val < 0 or train + val > 1 + 1e-9:
        raise ConfigError(
            f"random_split: fractions must be >= 0 with train + val <= 1 "
            f"(got train={train}, val={val})"
        )
    labelled = np.flatnonzero(y >= 0)
    order = np.random.default_rng(seed).permutation(labelled)
    m = labelled.shape[0]
    n_train = min(m, int(round(train * m)))
    n_val = min(m - n_train, int(round(val * m)))
    masks = tuple(np.zeros(y.shape[0], dtype=np.bool_) for _ in range(3))
    masks[0][order[:n_train]] = True
    masks[1][order[n_train : n_train + n_val]] = True
    masks[2][order[n_train + n_val :]] = True
    return masks[0], masks[1], masks[2]
