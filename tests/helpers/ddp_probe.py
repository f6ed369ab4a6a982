"""A few SGD steps of a small Swin regressor on a fixed batch of 4 images, in one process or
split over the processes of a torchrun (gloo) through MMEngine's MMDistributedDataParallel, as
tools/train.py wraps models on CPU. With gradients averaged, both end at the same weights.

    python -m torch.distributed.run --nproc_per_node=2 tests/helpers/ddp_probe.py OUT.pth
"""
import sys

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper

from swin_mm import SwinBackbone

BATCH, STEPS = 4, 3


class SwinRegressor(BaseModel):
    """Predict a scalar per image from the last Swin output (and the first, so that every
    parameter has a gradient); loss: mean squared error over the batch. No batch statistics."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = SwinBackbone(embed_dims=16, depths=(2, 2), num_heads=(1, 2), window_size=4,
                                     drop_path_rate=0.0, out_indices=(0, 1))
        self.head = nn.Linear(32, 1)

    def forward(self, inputs, targets, mode='loss'):
        first, last = self.backbone(inputs)
        pred = self.head(last.mean((2, 3))).squeeze(1) + first.mean((1, 2, 3))
        return {'loss': (pred - targets).square().mean()}


def batch():
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(BATCH, 3, 21, 27, generator=generator, dtype=torch.float64)
    return images, torch.randn(BATCH, generator=generator, dtype=torch.float64)


def train(rank: int = 0, world_size: int = 1, ddp: bool = False) -> dict:
    """The weights after STEPS steps on this rank's share of the batch (``ddp``: wrapped, in a
    process group)."""
    torch.manual_seed(0)
    model = SwinRegressor().double()
    if ddp:
        from mmengine.model import MMDistributedDataParallel
        model = MMDistributedDataParallel(model, device_ids=None, broadcast_buffers=False)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    images, targets = batch()
    share = slice(rank * BATCH // world_size, (rank + 1) * BATCH // world_size)
    for _ in range(STEPS):
        model.train_step(dict(inputs=images[share], targets=targets[share]), optim)
    module = model.module if ddp else model
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


if __name__ == '__main__':
    import torch.distributed as dist
    dist.init_process_group('gloo')
    weights = train(dist.get_rank(), dist.get_world_size(), ddp=True)
    if dist.get_rank() == 0:
        torch.save(weights, sys.argv[1])
    dist.destroy_process_group()
