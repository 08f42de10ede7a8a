"""Multi-layer perceptron: Linear layers with an activation between them."""

from typing import Sequence

from torch import nn

from .activations import activation


class MLP(nn.Sequential):
    """Linear(sizes[0] -> sizes[1]), act, ..., Linear(sizes[-2] -> sizes[-1]); the last
    layer has no activation unless `activate_last`. A plain nn.Sequential, so its
    parameters are named `0.weight`, `2.weight`, ... like a hand-written one."""

    def __init__(self, sizes: Sequence[int], activation_name: str = "silu", bias: bool = True,
                 activate_last: bool = False):
        if len(sizes) < 2:
            raise ValueError(f"an MLP needs at least input and output sizes, got {list(sizes)}")
        layers = []
        for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(size_in, size_out, bias=bias))
            if index < len(sizes) - 2 or activate_last:
                layers.append(activation(activation_name))
        super().__init__(*layers)
