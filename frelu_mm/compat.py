"""The torch APIs frelu_mm uses that appeared after torch 2.1, with their fallbacks."""
import inspect

import torch


def is_compiling() -> bool:
    """``torch.compiler.is_compiling`` (torch >= 2.3); dynamo's own check before."""
    compiler = getattr(torch, 'compiler', None)
    if compiler is not None and hasattr(compiler, 'is_compiling'):
        return compiler.is_compiling()
    import torch._dynamo  # torch 2.1-2.2
    return torch._dynamo.is_compiling()


def onnx_export_kwargs() -> dict:
    """Select the TorchScript exporter: ``dynamo=False`` where the argument exists (2.5+)."""
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        return {'dynamo': False}
    return {}  # torch < 2.5 has only the TorchScript exporter
