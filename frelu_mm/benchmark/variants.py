"""The PyTorch models the benchmark times: ReLU, the paper's naive FReLU, ours.

* ``relu``: ``ActResNet`` with ReLU (timed in NCHW and channels-last);
* ``naive``: FReLU as the paper writes it, ``max(x, BN(conv(x)))`` through plain
  autograd ops (NCHW, unfused);
* ``ours``: inference after ``fuse_frelu`` (folded norm, channels-last, the fused
  in-place kernel); training with the lean backward, channels-last.
"""
from typing import Callable

import torch

CL, NCHW = torch.channels_last, torch.contiguous_format


def naive_forward(self, x):
    """The paper's layer: ``max(x, BN(conv(x)))`` through plain autograd ops."""
    return torch.maximum(x, self.norm(self.conv(x)))


def build(variant: str, depth: int, device: str, norm_eval: bool = True):
    """A backbone for ``variant``: ``relu``, ``naive`` or ``ours`` (seed 0).

    Args:
        variant (str): which model.
        depth (int): ResNet depth.
        device (str): e.g. ``'cpu'``.
        norm_eval (bool): the backbone's ``norm_eval``: True (its default, as mmdet's
            ResNet and detection fine-tuning) keeps every BatchNorm frozen (running
            statistics) in train mode; False trains them on batch statistics.
    """
    from ..layers import FReLU
    from ..models import ActResNet
    act = dict(type='ReLU') if variant == 'relu' else dict(type='FReLU')
    torch.manual_seed(0)
    model = ActResNet(depth=depth, act_cfg=act, norm_eval=norm_eval).to(device)
    for m in model.modules():
        if isinstance(m, FReLU) and variant == 'naive':
            m.forward = naive_forward.__get__(m)
            m.lean_backward = False  # the blocks would otherwise fuse it with its norm
    return model


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def no_grad_run(model, x, device: str) -> Callable[[], None]:
    """A callable timing unit: ``model(x)`` under no_grad, synchronised."""
    def run():
        with torch.no_grad():
            model(x)
        sync(device)
    return run


def make_inference(variant: str, fmt, args) -> Callable[[], None]:
    """Inference of ``variant`` in memory format ``fmt`` (``args``: depth, device, batch,
    size)."""
    from ..fuse import fuse_frelu
    model = build(variant, args.depth, args.device)
    model.eval()  # mmdet's ResNet.train() returns None: no chaining
    if variant == 'ours':
        fuse_frelu(model, memory_format=fmt)
    model.to(memory_format=fmt)
    x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
    return no_grad_run(model, x.contiguous(memory_format=fmt), args.device)


def make_train(variant: str, fmt, args, norm_eval: bool = True) -> Callable[[], None]:
    """A training step (forward, backward, SGD; the model in train mode, its norms frozen
    if ``norm_eval``, see ``build``) of ``variant``."""
    model = build(variant, args.depth, args.device, norm_eval)
    model.train()
    model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
    x = x.contiguous(memory_format=fmt)

    def run():
        opt.zero_grad(set_to_none=True)
        loss = sum(o.float().mean() for o in model(x))
        loss.backward()
        opt.step()
        sync(args.device)
    return run


def layer_timings(args):
    """Per-FReLU times (ms) at the four stage widths, at the stage resolutions.

    Returns:
        list: ``(width, size, {relu_inf, naive_inf, ours_inf, relu_train, naive_train,
        ours_train})``.
    """
    from ..fuse import fuse_frelu
    from ..layers import FReLU
    from .timing import interleaved_medians
    rows = []
    size = args.size // 4
    for width in (64, 128, 256, 512):
        x = torch.randn(args.batch, width, size, size, device=args.device)
        xc = x.contiguous(memory_format=CL)
        naive = FReLU(width).to(args.device)
        naive.forward = naive_forward.__get__(naive)
        ours = FReLU(width).to(args.device).to(memory_format=CL)
        fused = fuse_frelu(FReLU(width).to(args.device).eval())
        naive_eval = FReLU(width).to(args.device).eval()  # nn.Module.eval returns self
        naive_eval.forward = naive_forward.__get__(naive_eval)
        g = torch.randn_like(x)
        gc = g.contiguous(memory_format=CL)

        def relu_inf():
            with torch.no_grad():
                torch.relu(x.clone())  # the clone stands for the conv output it acts on
            sync(args.device)

        def relu_train():
            xr = x.clone().requires_grad_()
            torch.relu(xr).backward(g)
            sync(args.device)

        def train(m, inp, grad):
            def run():
                xi = inp.detach().requires_grad_()
                m(xi).backward(grad)
                sync(args.device)
            return run

        med = interleaved_medians(dict(
            relu_inf=relu_inf, naive_inf=no_grad_run(naive_eval, x, args.device),
            ours_inf=no_grad_run(fused, xc, args.device),
            relu_train=relu_train, naive_train=train(naive, x, g), ours_train=train(ours, xc, gc)),
            args.layer_repeats, 1)
        rows.append((width, size, {k: v * 1e3 for k, v in med.items()}))
        size //= 2
    return rows
