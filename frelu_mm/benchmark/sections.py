"""The benchmark's timed sections, each variant side by side with ReLU in one process.

Every section returns the median seconds of its variants (``interleaved_medians``)
and the ratios it contributes (ours and the comparison row over the ReLU baseline).
"""
from typing import Dict, Tuple

from .timing import interleaved_medians
from .variants import CL, NCHW, make_inference, make_train

# the ratio each section reports, and its comparison row
TARGETS = dict(inference=1.03, ort_inference=1.10, train_step=1.15,
               train_step_batch_stats=1.15, train_peak_memory=1.05)
BATCH_STATS = 'batch-stat '  # the training rows with norm_eval=False


def relu_baseline(med: Dict[str, float]) -> str:
    """The fastest ``relu*`` row of ``med``: the baseline of every ratio."""
    return min((k for k in med if k.startswith('relu')), key=med.get)


def pytorch_inference(args) -> Tuple[Dict[str, float], Dict[str, float]]:
    """ReLU (NCHW, channels-last), naive FReLU (NCHW), ours (fused, channels-last)."""
    med = interleaved_medians({
        'relu nchw': make_inference('relu', NCHW, args),
        'relu channels_last': make_inference('relu', CL, args),
        'naive FReLU nchw': make_inference('naive', NCHW, args),
        'ours fused cl': make_inference('ours', CL, args),
    }, args.repeats, args.warmup)
    base = med[relu_baseline(med)]
    return med, {'inference': med['ours fused cl'] / base,
                 'inference (compare)': med['naive FReLU nchw'] / base}


def ort_inference(args, paths: Dict[str, str]) -> Tuple[Dict[str, float], Dict[str, float]]:
    """ONNX Runtime on the exported files (``onnx_runtime.export_backbones``)."""
    from .onnx_runtime import ort_runs
    from ..deploy import DEFAULT_FRELU_FORM, FRELU_FORMS
    runs = ort_runs(paths, args.batch, args.size)
    med = interleaved_medians({f'ort {k}': v for k, v in runs.items()}, args.repeats,
                              args.warmup)
    base = med['ort relu']
    ratios = {'ort_inference': med[f'ort frelu {DEFAULT_FRELU_FORM}'] / base,
              'ort_inference (compare)': med['ort frelu max'] / base}
    for form in FRELU_FORMS:
        if form not in (DEFAULT_FRELU_FORM, 'max') and f'ort frelu {form}' in med:
            ratios[f'ort_inference ({form})'] = med[f'ort frelu {form}'] / base
    return med, ratios


def train_step(args) -> Tuple[Dict[str, float], Dict[str, float]]:
    """ReLU (NCHW, channels-last), naive FReLU (NCHW), ours (lean, channels-last), with
    the backbone's default frozen norms; and, prefixed ``BATCH_STATS``, ReLU (both
    formats) and ours with norms trained on batch statistics (``norm_eval=False``)."""
    b = BATCH_STATS
    med = interleaved_medians({
        'relu nchw': make_train('relu', NCHW, args),
        'relu channels_last': make_train('relu', CL, args),
        'naive FReLU nchw': make_train('naive', NCHW, args),
        'ours lean cl': make_train('ours', CL, args),
        b + 'relu nchw': make_train('relu', NCHW, args, norm_eval=False),
        b + 'relu channels_last': make_train('relu', CL, args, norm_eval=False),
        b + 'ours lean cl': make_train('ours', CL, args, norm_eval=False),
    }, args.repeats, args.warmup)
    relu_key = relu_baseline(med)
    base = med[relu_key]
    batch_base = min(med[b + 'relu nchw'], med[b + 'relu channels_last'])
    return med, {'train_step': med['ours lean cl'] / base,
                 'train_step (compare)': med['naive FReLU nchw'] / base,
                 'train_step_batch_stats': med[b + 'ours lean cl'] / batch_base,
                 'relu train nchw faster': float(relu_key == 'relu nchw')}
