"""The batched FR-Train engine of this checkout against another commit's, interleaved.

Loads the engine as it is at ``--ref`` (``git show``) beside the current one: the single file
``trainer/models/_frtrain_engine.py`` of older commits, or the package
``trainer/models/_frtrain_engine/`` (its modules import each other relatively, so a copy loads
as its own package), and trains the authors' poisoned 9-point lambda sweep (notebook mode, as
benchmarks/lambda_sweep.py) with each engine in turn, ``--repeats`` times, alternating, in
ONE process, so a loaded machine slows both alike. Prints each run, the medians and the
ratio current / reference (below 1: the current engine is faster), and checks that both
engines give the same logits on the training rows: bit-identical, or, when the engines
round differently, the same up to float32 rounding: both engines run once more in float64,
where they must agree to ``F64_ATOL`` (the same arithmetic), and the current float32 logits
may be no further from the float64 ones than ``ROUNDING_SLACK`` times the reference's own
float32 error (an adversarial game amplifies rounding over thousands of steps, so a fixed
float32 tolerance would not separate rounding from a real change).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/engine_ab.py --ref c028b1c [--epochs 2000]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.data.synthetic import load_synthetic
from trainer.models import _frtrain_engine as current
from trainer.models.base import to01
from trainer.models.fr_train import NOTEBOOK_LAMBDA_F, notebook_params

ENGINE = "trainer/models/_frtrain_engine"
#: float64 logits of the two engines: the same computation up to float64 rounding
F64_ATOL = 1e-9
#: the current float32 error (against float64) may exceed the reference's by this factor
ROUNDING_SLACK = 2.0


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False)


def _engine_at(ref: str) -> Any:
    """The engine module (single file) or package at ``ref``, loaded as ``reference_engine``."""
    root = Path(tempfile.mkdtemp()) / "reference_engine"
    single = _git("show", f"{ref}:{ENGINE}.py")
    if single.returncode == 0:
        root.mkdir()
        (root / "__init__.py").write_text(single.stdout)
    else:
        files = _git("ls-tree", "-r", "--name-only", ref, f"{ENGINE}/")
        names = [n for n in files.stdout.split() if n.endswith(".py")]
        if files.returncode != 0 or not names:
            sys.exit(f"no engine at {ref}: neither {ENGINE}.py nor {ENGINE}/")
        for name in names:
            dest = root / Path(name).relative_to(ENGINE)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(_git("show", f"{ref}:{name}").stdout)
    spec = importlib.util.spec_from_file_location(
        "reference_engine", root / "__init__.py", submodule_search_locations=[str(root)]
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["reference_engine"] = mod
    spec.loader.exec_module(mod)
    return mod


def _run(eng: Any, epochs: int, dt: torch.dtype = torch.float32) -> tuple[float, torch.Tensor]:
    """Time one sweep; returns the seconds and the models' logits on the training rows."""
    ds = load_synthetic(poisoned=True)
    p = notebook_params("poisoned")
    lams = NOTEBOOK_LAMBDA_F["poisoned"]
    X = torch.tensor(np.c_[ds.train.X, ds.train.z], dtype=dt)
    Xv = torch.tensor(np.c_[ds.val.X, ds.val.z], dtype=dt)
    data = eng.EngineData(
        X=X, t=torch.tensor(to01(ds.train.y), dtype=dt),
        z=torch.tensor(ds.train.z, dtype=torch.long),
        Xv=Xv, yv=torch.tensor(np.where(ds.val.y > 0, 1.0, -1.0), dtype=dt), n_groups=2,
    )  # fmt: skip
    st = eng.init_models([p["random_state"]] * len(lams), d=3, g_hidden=0, r_hidden=16,
                         n_cond=1, k_out=1, std=0.2, dtype=dt, device="cpu")  # fmt: skip
    cfg = eng.EngineConfig(
        epochs=epochs, k=p["k"], lr_g=p["lr_g"], lr_f=p["lr_f"], lr_r=p["lr_r"],
        pretrain_epochs=500, c_pre=p["c_pre"], reweight="notebook", robust_grad=True,
    )  # fmt: skip
    lam_f = torch.tensor(lams, dtype=dt)
    lam_r = torch.full_like(lam_f, p["lambda_r"])
    t0 = time.perf_counter()
    eng.train(st, data, lam_f, lam_r, cfg)
    seconds = time.perf_counter() - t0
    w, b = st.g_params
    return seconds, w @ X.T + b[:, None]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="main", help="commit of the reference engine")
    ap.add_argument("--epochs", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ref = _engine_at(args.ref)
    times: dict[str, list[float]] = {"reference": [], "current": []}
    out: dict[str, torch.Tensor] = {}
    for r in range(args.repeats):
        order = [("reference", ref), ("current", current)]
        for name, eng in order if r % 2 == 0 else order[::-1]:
            dt, w = _run(eng, args.epochs)
            times[name].append(dt)
            out[name] = w
            print(f"repeat {r} {name:<9} {dt:6.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"9-point sweep x {args.epochs} epochs, 1 thread, medians of {args.repeats}: "
          f"reference ({args.ref}) {med['reference']:.2f} s, current {med['current']:.2f} s, "
          f"ratio current/reference {med['current'] / med['reference']:.3f}")  # fmt: skip
    same = _same_logits(ref, out, args.epochs)
    print("same logits:", "yes" if same else "NO")
    return 0 if same else 1


def _same_logits(ref: Any, out: dict[str, torch.Tensor], epochs: int) -> bool:
    """Bit-identical float32 logits, or the same float64 logits and float32 rounding."""
    diff = float((out["reference"] - out["current"]).abs().max())
    if torch.equal(out["reference"], out["current"]):
        print("float32 logits bit-identical")
        return True
    print(f"float32 logits differ by up to {diff:.3g}; checking against float64 runs")
    ref64 = _run(ref, epochs, torch.float64)[1]
    cur64 = _run(current, epochs, torch.float64)[1]
    d64 = float((ref64 - cur64).abs().max())
    err_ref = float((out["reference"].double() - ref64).abs().max())
    err_cur = float((out["current"].double() - ref64).abs().max())
    print(f"float64 logits differ by up to {d64:.3g} (allowed {F64_ATOL:g}); float32 error "
          f"against float64: reference {err_ref:.3g}, current {err_cur:.3g} "
          f"(allowed {ROUNDING_SLACK:g} x the reference's)")  # fmt: skip
    return d64 <= F64_ATOL and err_cur <= ROUNDING_SLACK * err_ref


if __name__ == "__main__":
    sys.exit(main())
