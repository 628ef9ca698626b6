"""The network as run for inference: a prepared copy, faster than the trained module on the CPU.

BatchNorm folded into the convolutions, the measured fastest memory layout, and on the CPU
convolutions that always take oneDNN's kernel (see docs/benchmarks.md for the figures).
"""

from __future__ import annotations

import copy

import torch

_CONVS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
_BATCHNORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)


def _folds_into(conv: torch.nn.Module, bn: torch.nn.Module) -> bool:
    """Whether ``bn`` is a BatchNorm with running statistics over ``conv``'s outputs."""
    return (
        isinstance(conv, _CONVS)
        and isinstance(bn, _BATCHNORMS)
        and bn.running_mean is not None
        and bn.running_var is not None
        and conv.out_channels == bn.num_features
    )


def _fold_pair(conv: torch.nn.Module, bn: torch.nn.Module) -> None:
    """Merge an eval-mode BatchNorm's affine map into the convolution, in place."""
    scale = torch.rsqrt(bn.running_var.double() + bn.eps)
    shift = -bn.running_mean.double() * scale
    if bn.affine:
        scale, shift = (
            scale * bn.weight.double(),
            shift * bn.weight.double() + bn.bias.double(),
        )
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    view = (-1,) + (1,) * (conv.weight.dim() - 1)
    weight = conv.weight.double() * scale.reshape(view)
    conv.weight = torch.nn.Parameter(weight.to(conv.weight.dtype), requires_grad=False)
    conv.bias = torch.nn.Parameter(
        (bias * scale + shift).to(conv.weight.dtype), requires_grad=False
    )


def fold_batchnorm(network: torch.nn.Module) -> torch.nn.Module:
    """Fold every eval-mode BatchNorm that directly follows a convolution into it, in place.

    At inference a BatchNorm is a fixed per-channel affine map, so it can be merged into
    the convolution's weights and bias: the output is the same to float rounding, and a
    full pass over every feature map (memory-bound on the CPU) disappears. Only
    ``(conv, batchnorm)`` pairs that are neighbours in an ``nn.Sequential`` are folded
    (the U-Net's conv blocks); anything else is left as it is.
    """
    for module in network.modules():
        if not isinstance(module, torch.nn.Sequential):
            continue
        names = list(module._modules)
        for prev, name in zip(names, names[1:], strict=False):
            conv, bn = module._modules[prev], module._modules[name]
            if _folds_into(conv, bn):
                _fold_pair(conv, bn)
                module._modules[name] = torch.nn.Identity()
    return network


def _cpu_autocast_enabled() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4 has no device argument
        return torch.is_autocast_cpu_enabled()


class OneDNNConv(torch.nn.Module):
    """A convolution that always runs oneDNN's kernel for float32 on the CPU.

    PyTorch sends a batch-1 float32 convolution to its slow reference kernel
    (``slow_conv3d_forward``, im2col + GEMM, NCHW only) when ``N * C * D * H`` of the
    input is at most 20480, a rule written for 2D images: in a 3D U-Net it catches most
    layers below full resolution (16 x 32 x 32 x ... already qualifies), which then also
    lose the channels-last layout and force copies back and forth. Calling oneDNN directly
    made a 48^3 / 64^3 / 96^3 tile of a 3D U-Net (base 16) 1.99x / 1.57x / 1.19x faster
    with outputs equal to 1e-7. Under autocast (bf16), and off the CPU, the wrapped
    convolution runs as usual (PyTorch already picks oneDNN for bf16).
    """

    def __init__(self, conv: torch.nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        if x.dtype != torch.float32 or x.device.type != "cpu" or _cpu_autocast_enabled():
            return c(x)
        return torch.mkldnn_convolution(
            x, c.weight, c.bias, c.padding, c.stride, c.dilation, c.groups
        )


def _use_onednn_convolutions(network: torch.nn.Module) -> torch.nn.Module:
    """Wrap every plain zero-padded 2D/3D convolution in :class:`OneDNNConv`, in place."""
    if not (torch.backends.mkldnn.is_available() and hasattr(torch, "mkldnn_convolution")):
        return network
    for module in list(network.modules()):
        for name, child in list(module._modules.items()):
            if (
                type(child) in (torch.nn.Conv2d, torch.nn.Conv3d)
                and child.padding_mode == "zeros"
                and not isinstance(child.padding, str)
            ):
                module._modules[name] = OneDNNConv(child)
    return network


def memory_format(device: torch.device, spatial_dims: int) -> torch.memory_format | None:
    """Channels-last layout where it was measured to be faster (see docs/benchmarks.md).

    On the CPU, oneDNN convolutions run 1.2-1.4x faster on channels-last tensors (no
    reorder of every feature map to its blocked layout and back). On CUDA (an H200,
    cuDNN) the shipped models ran as fast or faster: 2D 1.10x / 1.13x (fp32 / bf16), 3D
    1.00x / 1.16x. Other devices (MPS) keep PyTorch's default, not measured.
    """
    if device.type not in ("cpu", "cuda"):
        return None
    return torch.channels_last if spatial_dims == 2 else torch.channels_last_3d


def inference_network(
    network: torch.nn.Module, device: torch.device, spatial_dims: int
) -> torch.nn.Module:
    """A copy of ``network`` prepared for inference on ``device``.

    Evaluation mode, no gradients, BatchNorm folded into the convolutions
    (:func:`fold_batchnorm`), the fastest measured memory layout and, on the CPU,
    convolutions that always take oneDNN's kernel (:class:`OneDNNConv`). The caller's
    network is never modified (a training running elsewhere may be using it).
    """
    net = copy.deepcopy(network).eval().requires_grad_(False)
    net = fold_batchnorm(net).to(device)
    fmt = memory_format(device, spatial_dims)
    if fmt is not None:
        net = net.to(memory_format=fmt)
    if device.type == "cpu":
        net = _use_onednn_convolutions(net)
    return net
