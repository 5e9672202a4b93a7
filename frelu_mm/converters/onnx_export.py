"""Export a backbone, detector or segmentor to ONNX, FReLU fused, and check it.

Only tensors go through ONNX: a backbone's feature tuple, a detector's
``_forward`` (raw head outputs, e.g. RetinaNet's per-level class scores and box
deltas, before decoding and NMS) or a segmentor's ``_forward`` (the decode head's
logits, before resizing to the image). Pre-processing (``data_preprocessor``:
mean/std, BGR/RGB, padding) and post-processing stay outside the graph.
"""
import warnings
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..compat import onnx_export_kwargs
from ..deploy.onnx_frelu_form import DEFAULT_FRELU_FORM

DEFAULT_OPSET = 13


def flatten_tensors(obj) -> List[torch.Tensor]:
    """Flatten nested tuples/lists/dicts of tensors into a list, in order.

    Args:
        obj: a tensor or a nested container of tensors.
    """
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in flatten_tensors(item)]
    raise TypeError(f'cannot export a {type(obj).__name__} output: only tensors (or nested '
                    f'lists/tuples/dicts of tensors) can be ONNX outputs')


class TensorForward(nn.Module):
    """Wrap a model so that ``forward(x)`` returns a flat tuple of tensors.

    Args:
        model (nn.Module): the wrapped model (kept as ``self.model``).
        forward (Callable | None): ``forward(model, x)`` giving the outputs; None
            calls ``model(x)``.
    """

    def __init__(self, model: nn.Module, forward: Optional[Callable] = None):
        super().__init__()
        self.model = model
        self._forward = forward
        self.training = model.training  # a fresh Module is in train mode; follow the model

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        out = self.model(x) if self._forward is None else self._forward(self.model, x)
        return tuple(flatten_tensors(out))


def tensor_forward(model: nn.Module, part: str = 'auto') -> TensorForward:
    """The tensor-only forward of a backbone, detector or segmentor.

    Args:
        model (nn.Module): a backbone, or an mmdet detector / mmseg segmentor.
        part (str): ``'backbone'`` (``model.backbone`` of a detector/segmentor, or the
            model itself if it has none), ``'model'`` (``model._forward``: backbone,
            neck and head(s), no post-processing) or ``'auto'`` (``'model'`` when the
            model has ``_forward`` and a backbone, else the model itself).
    """
    if part not in ('auto', 'backbone', 'model'):
        raise ValueError(f"part must be 'auto', 'backbone' or 'model', got {part!r}")
    has_backbone = hasattr(model, 'backbone')
    if part == 'backbone':
        return TensorForward(model.backbone if has_backbone else model)
    if part == 'model' or (part == 'auto' and has_backbone and hasattr(model, '_forward')):
        if not hasattr(model, '_forward'):
            raise ValueError(f'{type(model).__name__} has no tensor-only _forward to export')
        return TensorForward(model, lambda m, x: m._forward(x))
    return TensorForward(model)


def fuse_if_available(model: nn.Module) -> bool:
    """Fold each FReLU's BN into its conv with ``frelu_mm.fuse_frelu``, in place.

    Args:
        model (nn.Module): the model, in eval mode.

    Returns:
        bool: True if ``frelu_mm.fuse_frelu`` exists and ran; False (with a warning)
        if this frelu_mm has none, in which case FReLU's BN is exported as is.
    """
    import frelu_mm
    fuse = getattr(frelu_mm, 'fuse_frelu', None)
    if fuse is None:
        warnings.warn('frelu_mm.fuse_frelu is not available in this version: exporting FReLU '
                      'unfused (its BatchNorm stays a separate node)')
        return False
    fuse(model)
    return True


def revert_sync_bn(model: nn.Module) -> nn.Module:
    """Replace SyncBN by BN (same statistics), so the model runs and exports on CPU.

    Args:
        model (nn.Module): the model; its children are replaced in place.
    """
    from mmengine.model import revert_sync_batchnorm
    return revert_sync_batchnorm(model)


def prepare_for_export(model: nn.Module, fuse: bool = True) -> Tuple[nn.Module, bool]:
    """Eval mode, SyncBN reverted to BN (exportable on CPU), FReLU fused if asked.

    Args:
        model (nn.Module): the model; changed in place.
        fuse (bool): fuse FReLU (see :func:`fuse_if_available`).

    Returns:
        tuple: ``(model, fused)``.
    """
    model = revert_sync_bn(model)
    model.eval()
    fused = fuse_if_available(model) if fuse else False
    model.eval()
    return model, fused


def export_onnx(module: nn.Module, example: torch.Tensor, path: str,
                opset: int = DEFAULT_OPSET, dynamic_batch: bool = False,
                frelu_form: str = DEFAULT_FRELU_FORM) -> List[str]:
    """Export ``module(example)`` (a flat tuple of tensors) to ``path``.

    Uses the TorchScript-based exporter (``dynamo=False`` on torch >= 2.5; the only one
    before): it needs no onnxscript. Each fused FReLU is then written in ``frelu_form``
    (:mod:`frelu_mm.deploy.onnx_frelu_form`); the file's metadata records which
    (``frelu_mm.deploy.read_frelu_form``).

    Args:
        module (nn.Module): e.g. a :class:`TensorForward`; put in eval mode.
        example (torch.Tensor): an ``(N, 3, H, W)`` input; the graph keeps its H, W.
        path (str): the ``.onnx`` file to write.
        opset (int): ONNX opset, at least 13.
        dynamic_batch (bool): make the batch dimension dynamic.
        frelu_form (str): ``'identity_conv'`` (default): ``Add(Conv_1x1(x; 1),
            Relu(Conv'(x)))``, whose Add ONNX Runtime fuses into the depthwise 1x1
            identity conv; ``'add'``: ``Add(x, Relu(Conv'(x)))``, which ONNX Runtime
            keeps in its blocked layout with a separate Add; ``'max'``: ``Max(x,
            Conv(x))`` as the exporter writes it; ``'two_conv'``: ``Add(Conv(x),
            Relu(Conv''(x)))``, whose Add fuses into the conv at the cost of a second
            depthwise conv. See :mod:`frelu_mm.deploy.onnx_frelu_form`.

    Returns:
        list[str]: the output names (``output0``, ``output1``, ...).
    """
    from ..deploy.onnx_frelu_form import FRELU_FORMS, set_frelu_form
    if opset < 13:
        raise ValueError(f'opset must be >= 13, got {opset}')
    if frelu_form not in FRELU_FORMS:
        raise ValueError(f'frelu_form must be one of {FRELU_FORMS}, got {frelu_form!r}')
    # the exporter restores the mode it found afterwards: make that eval, not train
    module.eval()
    with torch.no_grad():
        n_out = len(flatten_tensors(module(example)))
    output_names = [f'output{i}' for i in range(n_out)]
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {name: {0: 'batch'} for name in ['input'] + output_names}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        torch.onnx.export(module, (example, ), path, input_names=['input'],
                          output_names=output_names, opset_version=opset,
                          dynamic_axes=dynamic_axes, do_constant_folding=True,
                          **onnx_export_kwargs())
    set_frelu_form(path, frelu_form)
    return output_names


def compare_with_onnxruntime(module: nn.Module, path: str,
                             inputs: Sequence[torch.Tensor]) -> Tuple[float, float]:
    """Run the ONNX file with onnxruntime (CPU) and PyTorch on ``inputs``.

    Args:
        module (nn.Module): the PyTorch module to compare with (e.g. the unfused model).
        path (str): the ``.onnx`` file.
        inputs (Sequence[torch.Tensor]): inputs to try, each ``(N, 3, H, W)``.

    Returns:
        tuple: ``(max_abs_diff, max_abs_output)`` over all outputs and inputs; the
        second gives the scale (float32 rounding grows with it).
    """
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    worst, scale = 0.0, 0.0
    for x in inputs:
        with torch.no_grad():
            want = flatten_tensors(module(x))
        got = session.run(None, {'input': x.numpy()})
        if len(got) != len(want):
            raise AssertionError(f'onnxruntime gave {len(got)} outputs, PyTorch {len(want)}')
        for g, w in zip(got, want):
            if tuple(g.shape) != tuple(w.shape):
                raise AssertionError(f'output shape {g.shape} != PyTorch {tuple(w.shape)}')
            worst = max(worst, float((torch.from_numpy(g) - w).abs().max()))
            scale = max(scale, float(w.abs().max()))
    return worst, scale


def outputs_match(max_abs_diff: float, max_abs_output: float, tol: float = 1e-4) -> bool:
    """``max_abs_diff <= tol * max(1, max_abs_output)``: absolute for outputs up to 1,
    relative beyond (float32 rounding is relative to the magnitude).

    Args:
        max_abs_diff (float): from :func:`compare_with_onnxruntime`.
        max_abs_output (float): likewise.
        tol (float): the tolerance, 1e-4 by default.
    """
    return max_abs_diff <= tol * max(1.0, max_abs_output)
