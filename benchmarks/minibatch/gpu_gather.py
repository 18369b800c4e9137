"""Feeding a GPU the input rows of a mini-batch: three ways, timed in one run.

A sampled batch reads the features of its input vertices (tens of thousands of scattered rows
of an array too large, in general, for the GPU). Timed per batch, CUDA-synchronised:

* ``plain``: ``x[idx].to("cuda")`` from pageable host memory (what a training loop writes
  first);
* ``pinned``: pargnn's :class:`~pargnn.sampling.features.FeatureRows`: the array in pinned
  host memory, the rows gathered into a pinned staging buffer, one non-blocking copy;
* ``resident``: the whole array already on the GPU, ``x_gpu[idx_gpu]`` (the bound when it
  fits).

The zero-copy route (the GPU gathering the rows from pinned memory over the bus itself, as
PyTorch-Direct and DGL's UVA sampling do) needs a gather kernel on a host-mapped pointer,
which PyTorch does not expose; it is not measured here.

Run on a machine with CUDA::

    python benchmarks/minibatch/gpu_gather.py --out benchmarks/minibatch/results/gpu_gather.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from pargnn.sampling.features import FeatureRows


def timed(fn: Callable[[], torch.Tensor], repeats: int) -> float:
    """Median seconds of ``fn`` (synchronised), after one warm-up."""
    fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return float(np.median(samples))


def measure(n: int, width: int, rows: int, repeats: int) -> dict[str, object]:
    features = np.random.default_rng(0).standard_normal((n, width), dtype=np.float32)
    ids = torch.from_numpy(np.random.default_rng(1).choice(n, rows, replace=False))
    host = torch.from_numpy(features)
    pinned = FeatureRows(features, torch.float32, torch.device("cuda"))
    resident = host.cuda()
    ids_cuda = ids.cuda()
    seconds = {
        "plain": timed(lambda: host[ids].to("cuda"), repeats),
        "pinned": timed(lambda: pinned.gather(ids), repeats),
        "resident": timed(lambda: resident[ids_cuda], repeats),
    }
    moved = rows * width * 4
    return {"n": n, "width": width, "rows": rows, "bytes_per_batch": moved,
            "seconds": seconds,
            "gb_per_second": {k: moved / v / 1e9 for k, v in seconds.items()},
            "speedup_pinned_over_plain": seconds["plain"] / seconds["pinned"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=2_000_000)
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 150_000])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_gather.py needs a CUDA device")
    results = [measure(args.nodes, w, r, args.repeats) for w in args.widths for r in args.rows]
    report = {"machine": {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                          "cpu": platform.processor() or platform.machine()},
              "results": results}
    for r in results:
        s = r["seconds"]
        assert isinstance(s, dict)
        print(f"width {r['width']:4d} rows {r['rows']:7d}: plain {s['plain'] * 1e3:7.2f} ms, "
              f"pinned {s['pinned'] * 1e3:7.2f} ms, resident {s['resident'] * 1e3:7.2f} ms "
              f"(pinned x{r['speedup_pinned_over_plain']:.2f} faster than plain)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
