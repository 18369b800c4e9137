"""Class-dependent Gaussian vertex features (the "contextual" part of a contextual SBM).

Each class ``c`` gets a random mean ``mu_c ~ N(0, I / f)`` (so ``|mu_c| ~ 1`` and two means lie
``|mu_a - mu_b| ~ sqrt(2)`` apart whatever ``f`` is), and vertex ``v`` gets

    x_v = mu_{y_v} + sigma * eps_v,    eps_v ~ N(0, I_f).

Projected on the line between two class means the noise has standard deviation ``sigma``, so the
best possible two-class error is about ``Phi(-sqrt(2) / (2 sigma)) = Phi(-0.71 / sigma)``: 24% at
``sigma = 1``, worse with more classes. A classifier that sees only ``x_v`` is therefore clearly
imperfect, while averaging ``x`` over ``k`` same-class neighbours divides ``sigma`` by about
``sqrt(k)``: that is the gap a GNN on a homophilous graph closes and an MLP cannot.
"""

from __future__ import annotations

import numpy as np

# Rows per block when adding the class means, so that the temporary ``mu[labels]`` stays small.
_CHUNK_ROWS = 1 << 16


def class_means(classes: int, features: int, rng: np.random.Generator) -> np.ndarray:
    """``classes`` random means in ``R^features``, each of expected norm about 1 (float32)."""
    mu = rng.standard_normal((classes, features), dtype=np.float32)
    mu *= np.float32(1.0 / np.sqrt(features))
    return mu


def class_features(
    labels: np.ndarray, classes: int, features: int, sigma: float, rng: np.random.Generator
) -> np.ndarray:
    """Features ``mu[label] + sigma * N(0, I)``, float32 of shape ``(len(labels), features)``.

    The means are drawn first, then all the noise at once, so the result depends only on the
    generator's state, never on ``_CHUNK_ROWS``. A vertex with label ``-1`` gets pure noise.
    """
    mu = class_means(classes, features, rng)
    n = labels.shape[0]
    x = np.empty((n, features), dtype=np.float32)
    rng.standard_normal(dtype=np.float32, out=x)
    scale = np.float32(sigma)
    for lo in range(0, n, _CHUNK_ROWS):
        block = x[lo : lo + _CHUNK_ROWS]
        block *= scale
        y = labels[lo : lo + _CHUNK_ROWS]
        labelled = y >= 0
        if labelled.all():
            block += mu[y]
        else:
            block[labelled] += mu[y[labelled]]
    return x
