"""The benchmark's timed sections, each variant side by side with ReLU in one process.

Every section returns the median seconds of its variants (``interleaved_medians``)
and the ratios it contributes (ours and the comparison row over the ReLU baseline).
"""
import statistics
from typing import Callable, Dict, Optional, Tuple

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
    """ReLU (NCHW, channels-last), naive FReLU (NCHW), ours (fused, channels-last),
    ``args.inference_repeats`` rounds: a forward is short and the machine's speed moves
    from one to the next, so this section takes more rounds than the others."""
    med = interleaved_medians({
        'relu nchw': make_inference('relu', NCHW, args),
        'relu channels_last': make_inference('relu', CL, args),
        'naive FReLU nchw': make_inference('naive', NCHW, args),
        'ours fused cl': make_inference('ours', CL, args),
    }, args.inference_repeats, args.warmup)
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


# glibc's mmap threshold for the judged memory reading: its default static value (128
# KiB), set explicitly so that glibc does not raise it (see ``train_peak_memory``)
FIXED_MMAP_THRESHOLD = 128 * 1024
# the memory section's allocator settings: (name, MALLOC_MMAP_THRESHOLD_ or None for
# glibc's default, most rounds, what the reading is); the first is judged
MEMORY_SETTINGS = (
    ('fixed', FIXED_MMAP_THRESHOLD, 2,
     f'MALLOC_MMAP_THRESHOLD_={FIXED_MMAP_THRESHOLD}: the live peak, judged'),
    ('default', None, 3, "glibc's default allocator: the live peak plus the heap's churn"))


def train_peak_memory(measure: Callable[[str, object, Optional[int]], float], relu_fmt,
                      runs: int, fmt_name: Callable[[object], str], settings=MEMORY_SETTINGS):
    """Peak training memory of ReLU (in ``relu_fmt``), the naive FReLU and ours, each
    ``measure(variant, fmt, mmap_threshold)`` (a fresh process's peak), rounds
    interleaved, medians, under each of ``settings`` (``MEMORY_SETTINGS``: glibc's
    allocator set two ways):

    * ``fixed``: ``MALLOC_MMAP_THRESHOLD_`` = ``FIXED_MMAP_THRESHOLD``: every buffer
      above 128 KiB is its own mapping, returned to the OS when freed, so the peak is
      the step's live memory (reproducible to about 0.1% between processes): the
      judged ratio, ``train_peak_memory``;
    * ``default``: glibc as it comes (its threshold rises with the buffers freed, and
      freed buffers then stay in the heap): the peak also holds the heap's churn, which
      moves by about 3% between processes; the ratio ``train_peak_memory (glibc
      default)``.

    Returns:
        tuple: ``{setting: {row: median bytes}}``, ``{setting: rounds}``, the base
        row's name, the ratios (the first setting's judged).
    """
    variants = {f'relu {fmt_name(relu_fmt)}': ('relu', relu_fmt),
                'naive FReLU nchw': ('naive', NCHW), 'ours lean cl': ('ours', CL)}
    base = f'relu {fmt_name(relu_fmt)}'
    peaks, rounds = {}, {}
    for setting, threshold, most, _ in settings:
        rounds[setting] = max(1, min(runs, most))
        samples = {k: [] for k in variants}
        for _ in range(rounds[setting]):
            for k, (variant, fmt) in variants.items():
                samples[k].append(measure(variant, fmt, threshold))
        peaks[setting] = {k: statistics.median(v) for k, v in samples.items()}
    judged = peaks[settings[0][0]]
    ratios = {'train_peak_memory': judged['ours lean cl'] / judged[base],
              'train_peak_memory (compare)': judged['naive FReLU nchw'] / judged[base]}
    if 'default' in peaks and settings[0][0] != 'default':
        default = peaks['default']
        ratios['train_peak_memory (glibc default)'] = default['ours lean cl'] / default[base]
    return peaks, rounds, base, ratios
