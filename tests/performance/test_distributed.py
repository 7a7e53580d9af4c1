"""Two-process data-parallel training (gloo, ignite.distributed) equals single-process training on the global batch."""

from __future__ import annotations

import torch

from monai_mcrecon.networks.nets import MCCDic

STEPS, GLOBAL_BATCH, SIZE, LR = 3, 4, 16, 0.05


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(STEPS * GLOBAL_BATCH, 2, SIZE, SIZE, generator=g)
    return x, torch.rand(STEPS * GLOBAL_BATCH, 2, SIZE, SIZE, generator=g)


def _model():
    torch.manual_seed(0)
    return MCCDic.from_preset("tiny", power_iterations=1).double()


def _train(local_rank: int, out_dir: str) -> None:
    import ignite.distributed as idist
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    torch.set_num_threads(1)
    rank, world = idist.get_rank(), idist.get_world_size()
    x, y = _data()
    dataset = TensorDataset(x.double(), y.double())
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False)
    loader = DataLoader(dataset, batch_size=GLOBAL_BATCH // world, sampler=sampler)
    net = idist.auto_model(_model())  # DistributedDataParallel with gloo on CPU
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    for xb, yb in loader:
        opt.zero_grad()
        torch.nn.functional.l1_loss(net(xb), yb).backward()
        opt.step()
    module = net.module if hasattr(net, "module") else net
    torch.save(module.state_dict(), f"{out_dir}/rank{rank}.pt")


def test_two_gloo_ranks_hold_identical_weights_equal_to_single_process_training(tmp_path):
    import ignite.distributed as idist

    with idist.Parallel(backend="gloo", nproc_per_node=2) as parallel:
        parallel.run(_train, str(tmp_path))
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))

    net = _model()
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    x, y = _data()
    for i in range(STEPS):
        sl = slice(i * GLOBAL_BATCH, (i + 1) * GLOBAL_BATCH)
        opt.zero_grad()
        # DDP averages the ranks' gradients of their half-batch means: the mean over the global batch
        torch.nn.functional.l1_loss(net(x[sl].double()), y[sl].double()).backward()
        opt.step()
    single = net.state_dict()
    start = _model().state_dict()
    moved = sum(float((single[k] - start[k]).abs().sum()) for k in single if single[k].is_floating_point())
    assert moved > 1e-3  # training changed the weights: the comparison is not vacuous
    for k in single:
        torch.testing.assert_close(r0[k], r1[k], rtol=0, atol=0)
        torch.testing.assert_close(r0[k], single[k], rtol=1e-9, atol=1e-11)
