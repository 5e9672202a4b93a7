"""The ReLU and FReLU backbones in ONNX Runtime, as a deployer would run them.

Each backbone is exported by ``export_onnx`` at its defaults, as
``tools/export_onnx.py`` does (FReLU fused, written in its default form), and opened
with a plain ``onnxruntime.InferenceSession`` at default options. The FReLU backbone
is also written in each other form (``max``, the exporter's own, and the others of
``FRELU_FORMS``), for comparison.
"""
import os
from typing import Callable, Dict

import torch


def export_backbones(out_dir: str, depth: int = 50, batch: int = 8,
                     size: int = 224) -> Dict[str, str]:
    """Export ReLU and FReLU ``ActResNet`` backbones (seed 0) into ``out_dir``.

    Args:
        out_dir (str): an existing folder.
        depth (int): ResNet depth.
        batch (int): the graph's (static) batch.
        size (int): the graph's (static) image side.

    Returns:
        dict: ``relu`` and ``frelu <form>`` for every form of ``FRELU_FORMS``
        (``DEFAULT_FRELU_FORM``'s file is the default export) -> path.
    """
    from ..deploy import DEFAULT_FRELU_FORM, FRELU_FORMS
    from ..converters.onnx_export import TensorForward, export_onnx, prepare_for_export
    from .variants import build
    paths = {}
    x = torch.randn(batch, 3, size, size)
    for name, variant in (('relu', 'relu'), (f'frelu {DEFAULT_FRELU_FORM}', 'ours')):
        model, _ = prepare_for_export(build(variant, depth, 'cpu'))
        paths[name] = os.path.join(out_dir, name.replace(' ', '_') + '.onnx')
        export_onnx(TensorForward(model), x, paths[name])
    # the other forms (--frelu-form ...), exported on their own like the others
    for form in (f for f in FRELU_FORMS if f != DEFAULT_FRELU_FORM):
        model, _ = prepare_for_export(build('ours', depth, 'cpu'))
        paths[f'frelu {form}'] = os.path.join(out_dir, f'frelu_{form}.onnx')
        export_onnx(TensorForward(model), x, paths[f'frelu {form}'], frelu_form=form)
    return paths


def ort_runs(paths: Dict[str, str], batch: int = 8, size: int = 224) -> Dict[str, Callable]:
    """One callable per file: a plain ``InferenceSession`` (default options, CPU) run
    on a fixed random input.

    Args:
        paths (dict): name -> ``.onnx`` file.
        batch (int): input batch (the files' own).
        size (int): input side.
    """
    import onnxruntime as ort
    x = torch.randn(batch, 3, size, size).numpy()
    runs = {}
    for name, path in paths.items():
        session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
        runs[name] = (lambda s: lambda: s.run(None, {'input': x}))(session)
    return runs

