"""The reproduction's poisoned-AdultCensus FR-Train grid on CUDA vs the CPU (same run).

Trains the grid of ``frtrain reproduce table3`` (poisoned AdultCensus, λ_r 0.3 and the
ablation's 0, λ_f 0-0.6, mini-batches of 2,048 rows for ``--steps`` steps) for the given
seeds once on the GPU and once on the CPU, prints both wall times and their ratio, and
how far each grid point's test accuracy and DI differ between the two devices (the two
runs draw the same initial weights and batches, but float rounding differs, so they are
expected to agree closely, not exactly). Needs a CUDA device.

    python benchmarks/cuda_vs_cpu.py [--seeds 0,1] [--steps 8000] [--cpu-threads 8]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from trainer.experiments import paper
from trainer.metrics import accuracy, disparate_impact
from trainer.models.fr_train import FRTrainGrid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--steps", type=int, default=paper.ADULT_STEPS)
    ap.add_argument("--cpu-threads", type=int, default=8)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",")]
    cfg = paper.fr_settings("adult", "poisoned", paper.FULL)
    params = {**cfg["params"], **paper.adult_schedule(args.steps)}
    ds = paper.load_data("adult", "poisoned")
    tr, va, te = ds.train, ds.val, ds.test
    out = {}
    for device in ("cuda", "cpu"):
        torch.set_num_threads(args.cpu_threads)
        grid = FRTrainGrid(
            lambda_f=[0.0, *cfg["lambda_f"]], lambda_r=[cfg["lambda_r"], 0.0], seeds=seeds,
            device=device, **params,
        )  # fmt: skip
        t0 = time.perf_counter()
        grid.fit(tr.X, tr.y, tr.z, X_val=va.X, y_val=va.y, z_val=va.z)
        if device == "cuda":
            torch.cuda.synchronize()
        secs = time.perf_counter() - t0
        pred = grid.predictions(te.X, te.z)
        out[device] = (secs, [(accuracy(te.y, p), disparate_impact(p, te.z)) for p in pred])
        print(f"{device:>4}: {secs:7.1f} s for {len(grid.grid_)} models x {args.steps} steps",
              flush=True)  # fmt: skip
    (t_gpu, m_gpu), (t_cpu, m_cpu) = out["cuda"], out["cpu"]
    d_acc = max(abs(a[0] - b[0]) for a, b in zip(m_gpu, m_cpu, strict=True))
    d_di = np.nanmax([abs(a[1] - b[1]) for a, b in zip(m_gpu, m_cpu, strict=True)])
    print(f"ratio: CUDA {t_cpu / t_gpu:.1f}x faster than {args.cpu_threads} CPU threads "
          f"({torch.cuda.get_device_name(0)})")  # fmt: skip
    print(f"largest test difference between devices over the grid: acc {d_acc:.3f}, "
          f"DI {d_di:.3f}")  # fmt: skip
    print(f"mean test acc over the grid: cuda {np.mean([m[0] for m in m_gpu]):.3f}, "
          f"cpu {np.mean([m[0] for m in m_cpu]):.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
