"""The batched engine's hand-written gradients against an autograd transcription."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from trainer.data.synthetic import load_synthetic
from trainer.models import _frtrain_engine as eng
from trainer.models.fr_train_reference import reference_train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _weights_init_normal(m: nn.Module) -> None:
    # FRTrain_arch.weights_init_normal, Linear branch
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight.data, 0.0, 0.2)
        nn.init.constant_(m.bias.data, 0)


def test_init_matches_the_notebooks_module_order() -> None:
    """torch.manual_seed(seed) after building G, D_F, D_R, then the N(0, 0.2) init."""
    torch.manual_seed(12345)  # whatever state the global RNG was in must not matter
    gen, d_f = nn.Sequential(nn.Linear(3, 1)), nn.Sequential(nn.Linear(1, 1), nn.Sigmoid())
    d_r = nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Sigmoid())
    torch.manual_seed(1)
    for m in (gen, d_f, d_r):
        m.apply(_weights_init_normal)
    st = eng.init_models(
        [1, 2], d=3, g_hidden=0, r_hidden=16, n_cond=1, k_out=1, std=0.2,
        dtype=torch.float32, device="cpu",
    )  # fmt: skip
    assert torch.equal(st.g_params[0][0], gen[0].weight[0])
    assert torch.equal(st.f_params[0][0, 0, 0], d_f[0].weight[0, 0])
    assert torch.equal(st.r_params[0][0], d_r[0].weight)
    assert torch.equal(st.r_params[2][0], d_r[2].weight[0])
    # a different seed gives a different model in the same stack
    assert not torch.equal(st.g_params[0][0], st.g_params[0][1])


def _data(poisoned: bool, n: int = 200, nv: int = 60, groups: int = 2):
    ds = load_synthetic(poisoned=poisoned)
    z, zv = ds.train.z[:n].copy(), ds.val.z[:nv].copy()
    if groups > 2:  # split group 0 by the sign of x1 to get a third group
        z[(z == 0) & (ds.train.X[:n, 0] > 0)] = 2
        zv[(zv == 0) & (ds.val.X[:nv, 0] > 0)] = 2
    X = np.c_[ds.train.X[:n], z].astype(np.float32)
    Xv = np.c_[ds.val.X[:nv], zv].astype(np.float32)
    y, yv = ds.train.y[:n].astype(np.float32), ds.val.y[:nv].astype(np.float32)
    return (torch.tensor(X), torch.tensor(y), torch.tensor(z), torch.tensor(Xv), torch.tensor(yv))


CASES = {
    # name: (engine/ref kwargs, hidden, fairness, groups)
    "notebook-poisoned": (dict(k=5, c_pre=0.1, reweight="notebook", robust_grad=True), 0, "dp", 2),
    "notebook-clean": (dict(k=3, c_pre=1.0, reweight="notebook", robust_grad=False), 0, "dp", 2),
    "paper-hidden-eo": (dict(k=3, c_pre=0.1, reweight="paper", robust_grad=True), 8, "eo", 2),
    "paper-eop": (dict(k=2, c_pre=0.5, reweight="paper", robust_grad=True), 0, "eop", 2),
    "off-softmax-3-groups": (dict(k=3, c_pre=0.1, reweight="off", robust_grad=True), 0, "dp", 3),
}


@pytest.mark.parametrize("case", list(CASES))
def test_engine_matches_autograd_reference(case: str) -> None:
    kw, hidden, fairness, groups = CASES[case]
    X, y, z, Xv, yv = _data(poisoned=True, groups=groups)
    lam_f, lam_r = [0.3, 0.5], [0.4, 0.2]
    k_out = 1 if groups == 2 else groups
    common = dict(epochs=90, pretrain=30, refresh=20, lr_g=5e-3, lr_f=1e-2, lr_r=5e-3)
    st = eng.init_models(
        [3, 4], d=X.shape[1], g_hidden=hidden, r_hidden=16, n_cond=2 if fairness == "eo" else 1,
        k_out=k_out, std=0.2, dtype=torch.float32, device="cpu",
    )  # fmt: skip
    inits = [
        {key: [p[i].clone() for p in ps] for key, ps in
         (("g", st.g_params), ("f", st.f_params), ("r", st.r_params))}
        for i in range(2)
    ]  # fmt: skip
    cfg = eng.EngineConfig(
        epochs=common["epochs"], k=kw["k"], lr_g=common["lr_g"], lr_f=common["lr_f"],
        lr_r=common["lr_r"], pretrain_epochs=common["pretrain"], c_pre=kw["c_pre"],
        reweight=kw["reweight"], robust_grad=kw["robust_grad"], g_hidden=hidden,
        fairness=fairness, refresh_every=common["refresh"],
    )  # fmt: skip
    data = eng.EngineData(X=X, t=(y + 1) / 2, z=z, Xv=Xv, yv=yv, n_groups=groups)
    eng.train(st, data, torch.tensor(lam_f), torch.tensor(lam_r), cfg)
    for i in range(2):
        ref = reference_train(
            inits[i], X, y, z, Xv, yv, lambda_f=lam_f[i], lambda_r=lam_r[i], fairness=fairness,
            **common, **kw,
        )  # fmt: skip
        for ours, theirs in zip(st.g_params, ref, strict=True):
            torch.testing.assert_close(ours[i], theirs, rtol=2e-4, atol=2e-5)


def test_minibatch_engine_runs_and_learns() -> None:
    X, y, z, Xv, yv = _data(poisoned=False, n=600)
    st = eng.init_models(
        [0], d=3, g_hidden=0, r_hidden=16, n_cond=1, k_out=1, std=0.2,
        dtype=torch.float32, device="cpu",
    )  # fmt: skip
    cfg = eng.EngineConfig(
        epochs=40, k=2, lr_g=1e-2, lr_f=1e-2, lr_r=1e-2, pretrain_epochs=10, batch_size=128
    )
    data = eng.EngineData(X=X, t=(y + 1) / 2, z=z, Xv=Xv, yv=yv, n_groups=2)
    eng.train(st, data, torch.tensor([0.1]), torch.tensor([0.1]), cfg)
    assert st.step == 40 * 5
    g = X @ st.g_params[0][0] + st.g_params[1][0]
    assert ((g > 0).float() == (y > 0).float()).float().mean() > 0.8
