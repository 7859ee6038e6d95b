"""Speed benchmarks of the quick profile's training step: where the time went, before and after.

Each group has a ``fast`` (what the pipelines use) and a ``naive`` (what they used before)
benchmark; ``tox -e bench`` prints the ratios with the metric kernels'. The case is the
headline's: GCA at width x0.25, batch 4 of 64-pixel synthetic portraits, one CPU thread.

* ``batch``: a training batch from the fixed pool (:func:`benchmark.training.training_pool`,
  generated once) vs generated on the fly from the endless stream;
* ``adam``: one fused Adam update of the 220 parameter tensors vs the per-tensor loop;
* ``step``: a whole training step (data, forward, loss, backward, update) with both.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from baselines import create_model  # noqa: E402
from baselines.losses import matting_loss  # noqa: E402
from baselines.models.adapters import get_adapter  # noqa: E402
from benchmark.training import TrainConfig, adam, make_batch  # noqa: E402

POOL = 64  # the timed batches draw from a small pool: generation is paid once, outside


def _config(pool: int) -> TrainConfig:
    return TrainConfig(model="gca", size=64, crop=64, batch=4, pool=pool, threads=1)


@pytest.fixture(scope="module")
def net():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = create_model("gca", width_mult=0.25, zero_init_residual=False).train()
    make_batch(_config(POOL), 0)  # the pool, generated once
    return model


def _counter():
    state = {"i": 0}

    def nxt() -> int:
        state["i"] += 1
        return state["i"]

    return nxt


def test_fast_batch(benchmark, net) -> None:
    benchmark.group = "batch"
    nxt = _counter()
    b = benchmark(lambda: make_batch(_config(POOL), nxt()))
    assert b["image"].shape == (4, 3, 64, 64)


def test_naive_batch(benchmark, net) -> None:
    benchmark.group = "batch"
    nxt = _counter()
    b = benchmark.pedantic(lambda: make_batch(_config(0), nxt()), rounds=10, iterations=1)
    assert b["image"].shape == (4, 3, 64, 64)


def _grads(model):
    params = [p for p in model.parameters() if p.requires_grad]
    gen = torch.Generator().manual_seed(0)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen)
    return params


def test_fast_adam(benchmark, net) -> None:
    benchmark.group = "adam"
    opt = adam(_grads(net), lr=1e-6, device="cpu")
    benchmark(opt.step)


def test_naive_adam(benchmark, net) -> None:
    benchmark.group = "adam"
    opt = torch.optim.Adam(_grads(net), lr=1e-6)
    benchmark.pedantic(opt.step, rounds=20, iterations=1)


def _step(model, opt, cfg, nxt):
    ad = get_adapter("gca")

    def run() -> float:
        b = make_batch(cfg, nxt())
        loss = matting_loss(ad.alpha(model(*ad.inputs(b))), b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return run


def test_fast_step(benchmark, net) -> None:
    benchmark.group = "step"
    opt = adam(net.parameters(), lr=1e-6, device="cpu")
    benchmark.pedantic(_step(net, opt, _config(POOL), _counter()), rounds=10, iterations=1)


def test_naive_step(benchmark, net) -> None:
    benchmark.group = "step"
    opt = torch.optim.Adam(net.parameters(), lr=1e-6)
    benchmark.pedantic(_step(net, opt, _config(0), _counter()), rounds=10, iterations=1)
