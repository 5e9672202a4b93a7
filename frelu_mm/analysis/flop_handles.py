"""FLOP handles that make mmengine's counter see FReLU's maximum.

mmengine.analysis (from fvcore) counts one multiply-add as one FLOP: a k x k
depthwise conv costs k*k FLOPs per output element, an eval-mode BatchNorm 2 per
element (1 without affine). It lists ``aten::max`` among the ops it ignores and
has no handle for ``aten::maximum``, so ``max(x, T(x))`` costs 0 there. The
handle below counts an element-wise maximum as 1 FLOP per output element (one
comparison, the same unit as one multiply-add). Reductions (``torch.max(x)``,
``x.max(dim)``) stay uncounted, as in mmengine; so do ReLU (ignored by
mmengine) and Swish's sigmoid/mul (no handle), which is why a ReLU or Swish
network counts no activation FLOPs.
"""
from typing import Any, Dict, List

from mmengine.analysis.jit_handles import get_shape

COUNTING_NOTE = (
    'FLOPs follow mmengine.analysis: 1 multiply-add = 1 FLOP (conv, linear), eval BatchNorm '
    '2 per element, upsample/pool per mmengine; activations ReLU/sigmoid/SiLU count 0. '
    "FReLU's element-wise max(x, T(x)) counts 1 FLOP per output element (aten::max / "
    'aten::maximum with two tensor inputs); its depthwise conv and BN count as above.')


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def elementwise_max_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``aten::max`` / ``aten::maximum``: 1 per output element when two
    tensors are compared element-wise, 0 for a reduction.

    Args:
        inputs (list[torch._C.Value]): the traced op's inputs.
        outputs (list[torch._C.Value]): the traced op's outputs.
    """
    tensors = [v for v in inputs if v.type().kind() == 'TensorType']
    if len(tensors) < 2:
        return 0  # torch.max(x) / x.max(dim): a reduction, uncounted like mmengine
    shape = get_shape(outputs[0])
    return _numel(shape) if shape is not None else 0


def max_op_handles() -> Dict[str, Any]:
    """Handles to pass to ``FlopAnalyzer.set_op_handle(**handles)``."""
    return {'aten::max': elementwise_max_flop_jit, 'aten::maximum': elementwise_max_flop_jit}
