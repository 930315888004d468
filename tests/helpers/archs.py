"""Helpers for the architecture tests: tiny settings of every baseline, a tiny overfit loop and forward-hook
shape capture."""
import torch

from gpt4o_prior.archs import NAFNet, NAFNetLocal, Restormer, Retinexformer

TINY = {
    NAFNet: dict(width=8, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1]),
    NAFNetLocal: dict(width=8, enc_blk_nums=[1], dec_blk_nums=[1], train_size=(1, 3, 8, 8)),
    Restormer: dict(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1, heads=[1, 2, 2, 4]),
    Retinexformer: dict(n_feat=8, num_blocks=[1, 1, 1]),
}
"""Each baseline class -> keyword arguments of a tiny instance (fast on CPU, every attach point present)."""


def overfit(net: torch.nn.Module, x: torch.Tensor, gt: torch.Tensor, steps: int = 25, lr: float = 2e-3):
    """Train ``net`` on one pair with L1; return (first loss, last loss)."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = (net(x) - gt).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses[0], losses[-1]


def hooked_shapes(net: torch.nn.Module, names, x):
    """Run ``net(x)`` and return the output shape of each named module (forward hooks, removed afterwards)."""
    modules = dict(net.named_modules())
    shapes, handles = {}, []
    for name in names:
        handles.append(modules[name].register_forward_hook(
            lambda m, args, out, name=name: shapes.__setitem__(name, tuple(out.shape))))
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return shapes
