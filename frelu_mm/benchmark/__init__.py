"""Speed and memory of FReLU against ReLU on a ResNet backbone (``tools/benchmark.py``).

``timing``: interleaved medians and peak RSS; ``variants``: the PyTorch models
timed (ReLU, the paper's naive FReLU, ours) and per-layer timings;
``onnx_runtime``: the same backbones exported as ``tools/export_onnx.py`` writes
them, run by a plain ``onnxruntime.InferenceSession``; ``machine``: the CPU, for the
header.
"""
from .onnx_runtime import export_backbones, ort_runs
from .timing import interleaved_medians, rss_peak
from .variants import (CL, NCHW, build, layer_timings, make_inference, make_train,
                       naive_forward, no_grad_run)

__all__ = ['CL', 'NCHW', 'build', 'export_backbones', 'interleaved_medians', 'layer_timings',
           'make_inference', 'make_train', 'naive_forward', 'no_grad_run', 'ort_runs',
           'rss_peak']
