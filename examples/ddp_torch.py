"""Data parallelism on PyTorch: the torch target's module under DistributedDataParallel, two CPU processes
on the gloo backend; the averaged gradients of one step equal one process's gradients on the whole batch.

Run: .venv/bin/python examples/ddp_torch.py
"""
import os
import sys
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import cnndsl

SPEC = """
network net(image: [32, 32, 3], classes=10) {
    conv(16, 3, padding=same, activation=relu) -> maxpool -> conv(32, 3, padding=same, activation=relu)
    global_avgpool -> dense(classes)
}
"""
WORLD = 2


def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g)   # NCHW, as torch


def grads(model, x, y):
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    return {k: p.grad.detach().clone() for k, p in model.named_parameters()}


def worker(rank, folder):
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=WORLD)
    model = cnndsl.to_torch(cnndsl.check(SPEC))
    model.load_state_dict(torch.load(f"{folder}/start.pt"))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    x, y = batch()
    part = slice(rank * 4, rank * 4 + 4)                      # each process its half of the batch
    got = grads(ddp, x[part], y[part])
    if rank == 0:
        torch.save({k.removeprefix("module."): v for k, v in got.items()}, f"{folder}/ddp.pt")
    dist.destroy_process_group()


def main():
    torch.manual_seed(1)
    model = cnndsl.to_torch(cnndsl.check(SPEC))
    with tempfile.TemporaryDirectory() as folder:
        torch.save(model.state_dict(), f"{folder}/start.pt")
        expected = grads(model, *batch())                     # one process, the whole batch
        mp.spawn(worker, args=(folder,), nprocs=WORLD, join=True)
        got = torch.load(f"{folder}/ddp.pt")
    assert got.keys() == expected.keys() and got
    for k in expected:
        torch.testing.assert_close(got[k], expected[k], rtol=1e-5, atol=1e-6)
    print(f"ok: DistributedDataParallel over {WORLD} processes (gloo): gradients equal one process's "
          f"({len(expected)} tensors)")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
