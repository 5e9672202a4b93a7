"""The torch APIs frelu_mm uses that appeared after torch 2.1, with their fallbacks."""
import inspect

import torch

if hasattr(getattr(torch, 'compiler', None), 'is_compiling'):
    is_compiling = torch.compiler.is_compiling  # torch >= 2.3
else:
    def is_compiling() -> bool:
        """``torch.compiler.is_compiling`` of torch >= 2.3: dynamo's own check before."""
        from torch import _dynamo  # imported on first use: it is slow to import
        return _dynamo.is_compiling()


def onnx_export_kwargs() -> dict:
    """Select the TorchScript exporter: ``dynamo=False`` where the argument exists (2.5+)."""
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        return {'dynamo': False}
    return {}  # torch < 2.5 has only the TorchScript exporter
