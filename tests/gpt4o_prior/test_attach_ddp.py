"""A PriorNet trains under DistributedDataParallel: gloo backend, 2 processes, CPU."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from gpt4o_prior.attach import attach_prior

from tests.helpers.hosts import TinyUNet

WORLD = 2


def _worker(rank, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        torch.manual_seed(0)  # same initial weights on every rank (DDP broadcasts rank 0's anyway)
        net = attach_prior(TinyUNet(c=4), fusion="sft")
        ddp = DistributedDataParallel(net)
        opt = torch.optim.Adam(ddp.parameters(), lr=1e-2)
        g = torch.Generator().manual_seed(100 + rank)  # different data on each rank
        for _ in range(3):
            x, p = torch.rand(2, 3, 12, 12, generator=g), torch.rand(2, 3, 12, 12, generator=g)
            loss = (ddp(x, prior=p) - p).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        flat = torch.cat([q.detach().flatten() for q in net.parameters()])
        gathered = [torch.empty_like(flat) for _ in range(WORLD)]
        dist.all_gather(gathered, flat)
        if not torch.equal(gathered[0], gathered[1]):
            raise AssertionError("ranks diverged: gradients were not all-reduced")
        if rank == 0:
            torch.save({"net": ddp.module.state_dict(), "branch": ddp.module.prior_state_dict()},
                       os.path.join(out_dir, "ckpt.pth"))
        # Leave together: a rank tearing gloo down while the other still talks to it can abort (SIGABRT).
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_ddp_gloo_two_processes(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    ckpt = torch.load(tmp_path / "ckpt.pth", weights_only=True)
    net = attach_prior(TinyUNet(c=4), fusion="sft")
    net.load_state_dict(ckpt["net"])
    trained = net.branch.points["decoders__1"].block.to_gamma_beta.weight
    assert trained.abs().sum() > 0  # the zero-initialised projection moved
    fresh = attach_prior(TinyUNet(c=4), fusion="sft")
    fresh.load_prior_state_dict(ckpt["branch"])
    assert torch.equal(fresh.branch.points["decoders__1"].block.to_gamma_beta.weight, trained)
