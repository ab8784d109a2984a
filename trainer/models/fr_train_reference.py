"""FR-Train as a plain autograd training loop: the readable specification.

This is what :mod:`trainer.models._frtrain_engine` computes, written the obvious way: one
model, ``torch.nn.BCELoss``, ``torch.optim.Adam`` for G and ``torch.optim.SGD`` for D_F and
D_R, autograd for every gradient. It is slow (one model at a time, autograd on tiny
tensors) and exists to be read and to be the oracle the engine's hand-written, batched
gradients are tested against (tests/trainer/test_fr_train_engine.py).

Per epoch (full batch), as in the paper (Section 3.3, Figure 3) and docs/ALGORITHMS.md §1.3:

1. D_F step: minimise D_F's cross-entropy of z given the logit (the inner max of L_2,
   Section 3.1 Theorem 1).
2. D_R step: minimise 0.5 [BCE(D_R(x_val, z_val, y_val), 1) + BCE(D_R(x, z, y_hat), 0)]
   (the inner max of L_3, Section 3.2 Theorem 2).
3. G step (pretraining: ``c_pre`` BCE; afterwards every k-th epoch): minimise
   ``(1 - l1 - l2) L1_W - l1 CE_F - l2 CE_R``, the generator's side of
   ``min_G (1 - l1 - l2) L1 + l1 L2 + l2 L3`` (Section 3.3), with the example weights W
   (Section 3.3 "re-weighting") refreshed every ``refresh`` epochs.

It follows the authors' notebook line by line (FRTrain_poisoned.ipynb / FRTrain_clean.ipynb,
docs/ALGORITHMS.md §1.3) with torch.nn.BCELoss, torch.optim.Adam and torch.optim.SGD, and adds
the paper-mode re-weighting, hidden-layer generator, softmax D_F and the EO/EOp routing the
same way the spec describes them, so the hand-written gradients of the batched engine can
be checked against autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reference_train(
    init: dict[str, list[torch.Tensor]],
    XS: torch.Tensor,
    y: torch.Tensor,
    z: torch.Tensor,
    XSv: torch.Tensor,
    yv: torch.Tensor,
    *,
    lambda_f: float,
    lambda_r: float,
    epochs: int,
    k: int,
    lr_g: float,
    lr_f: float,
    lr_r: float,
    pretrain: int,
    c_pre: float,
    reweight: str,
    robust_grad: bool,
    fairness: str = "dp",
    refresh: int = 100,
    C: float = 3.0,
) -> list[torch.Tensor]:
    """Train one model from ``init`` (per-model tensors) and return G's parameters.

    ``y`` and ``yv`` are in {-1, +1}; ``z`` holds group codes.
    """
    gp = [p.clone().requires_grad_() for p in init["g"]]
    fp = [p.clone().requires_grad_() for p in init["f"]]  # a (C, K), c (C, K)
    rp = [p.clone().requires_grad_() for p in init["r"]]
    opt_g = torch.optim.Adam(gp, lr=lr_g)
    opt_f = torch.optim.SGD(fp, lr=lr_f)
    opt_r = torch.optim.SGD(rp, lr=lr_r)
    bce = torch.nn.BCELoss()
    t = (y + 1) / 2
    N = len(y)
    K = fp[0].shape[1]

    def G(X: torch.Tensor) -> torch.Tensor:
        if len(gp) == 2:
            return X @ gp[0] + gp[1]
        h = F.leaky_relu(X @ gp[0].T + gp[1], 0.2)
        return h @ gp[2] + gp[3]

    def DR(inp: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(inp @ rp[0].T + rp[1], 0.2)
        return torch.sigmoid(h @ rp[2] + rp[3])

    if fairness == "eo":
        cls = t.long()
        ind = torch.ones(N)
    elif fairness == "eop":
        cls = torch.zeros(N, dtype=torch.long)
        ind = t.clone()
    else:
        cls = torch.zeros(N, dtype=torch.long)
        ind = torch.ones(N)

    def fair_ce(g: torch.Tensor) -> torch.Tensor:
        """Per-row CE of the row's D_F (times the row indicator)."""
        a, c = fp[0][cls], fp[1][cls]  # (N, K)
        logits = g[:, None] * a + c
        if K == 1:
            ce = F.binary_cross_entropy(torch.sigmoid(logits[:, 0]), z.float(), reduction="none")
        else:
            ce = F.cross_entropy(logits, z, reduction="none")
        return ce * ind

    W = torch.ones(N)
    last_g_loss = torch.zeros(())
    for epoch in range(epochs):
        opt_g.zero_grad()
        g = G(XS)
        # D_F step
        opt_f.zero_grad()
        fair_ce(g.detach()).mean().backward()
        opt_f.step()
        # D_R step
        opt_r.zero_grad()
        gen = torch.cat([XS, g.detach()[:, None]], 1)
        val = torch.cat([XSv, yv[:, None]], 1)
        q_gen, q_val = DR(gen), DR(val)
        d_r_loss = 0.5 * (bce(q_val, torch.ones_like(q_val)) + bce(q_gen, torch.zeros_like(q_gen)))
        d_r_loss.backward()
        opt_r.step()
        # G step
        if epoch < pretrain:
            loss = c_pre * bce((torch.tanh(g) + 1) / 2, t)
            loss.backward()
            opt_g.step()
            last_g_loss = loss.detach()
        elif epoch % k == 0:
            gen = torch.cat([XS, (g if robust_grad else g.detach())[:, None]], 1)
            qr = DR(gen)
            r_gen = bce(qr, torch.zeros_like(qr))
            if reweight != "off" and epoch % refresh == 0:
                if reweight == "notebook":
                    R = torch.sigmoid(last_g_loss / d_r_loss.detach() - C)
                    W = R * qr.detach() + (1 - R)
                else:
                    lc = F.binary_cross_entropy_with_logits(g.detach(), t)
                    R = torch.sigmoid(lc / d_r_loss.detach() - C)
                    W = R + qr.detach() * (1 - R)
                    W = W / W.mean()
            l1 = F.binary_cross_entropy_with_logits(g, t, reduction="none")
            f_gen = torch.mean(fair_ce(g) * W)
            loss = (1 - lambda_f - lambda_r) * torch.mean(l1 * W) - lambda_f * f_gen
            loss = loss - lambda_r * r_gen
            loss.backward()
            opt_g.step()
            last_g_loss = loss.detach()
    return [p.detach() for p in gp]
