"""Speed and memory of FReLU on a ResNet backbone, each beside ReLU in the same process.

One run measures on ``ActResNet`` (ResNet-50, batch 8, 224x224 by default):

* PyTorch inference: ReLU (in its faster memory format), the naive FReLU (the
  paper's module: NCHW, unfused, plain autograd) and ours (``fuse_frelu``: folded
  norm, channels-last, fused in-place kernel);
* ONNX Runtime inference: the backbones exported as ``tools/export_onnx.py`` writes
  them by default (FReLU fused, ``identity_conv`` form), opened with a plain
  ``onnxruntime.InferenceSession`` at default options; the other FReLU forms beside;
* training step (forward, backward, SGD step; the backbone in train mode with its
  default ``norm_eval=True``, every BatchNorm frozen, as mmdet's ResNet trains
  detectors): ReLU, naive FReLU, ours (lean backward, channels-last); and ReLU and ours
  with ``norm_eval=False`` (norms on batch statistics), their own ratio;
* peak training memory: peak RSS (CUDA: peak allocated) of a fresh subprocess per
  variant, so the peaks do not mix; with glibc's mmap threshold fixed (the step's
  live peak, reproducible: the judged ratio) and at glibc's default (beside it);
* per-layer FReLU timings at the four stage widths;

and prints every ratio to ReLU with its target and its physical floor (FReLU's
multiply-adds over ReLU's). The measuring lives in ``frelu_mm.benchmark``.

    python tools/benchmark.py --runs 5              # the documented figures
    python tools/benchmark.py --batch 2 --size 112 --repeats 3 --inference-repeats 3   # a quick look
"""
import argparse
import json
import os
import os.path as osp
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

from frelu_mm.benchmark import (CL, NCHW, export_backbones, layer_timings,  # noqa: E402
                                make_train, rss_peak)
from frelu_mm.benchmark.floor import mac_floor  # noqa: E402
from frelu_mm.benchmark.machine import describe_cpu  # noqa: E402
from frelu_mm.benchmark.sections import (BATCH_STATS, MEMORY_SETTINGS,  # noqa: E402
                                         TARGETS, ort_inference, pytorch_inference,
                                         relu_baseline, train_peak_memory, train_step)
from frelu_mm.deploy import DEFAULT_FRELU_FORM, FRELU_FORMS  # noqa: E402
from frelu_mm.layers import fused_kernel  # noqa: E402

FORMAT_NAMES = {CL: 'channels_last', NCHW: 'nchw'}
SECTIONS = ('inference', 'ort', 'train', 'memory', 'layers')
TIMED = ('inference', 'ort', 'train')  # the sections --runs repeats in fresh processes
COMPARE = dict(inference='naive', ort_inference='max form', train_step='naive',
               train_peak_memory='naive')  # train_step_batch_stats: no comparison row
# further comparisons: ratio key suffixes and labels
ALSO = dict(ort_inference=[f for f in FRELU_FORMS if f not in (DEFAULT_FRELU_FORM, 'max')],
            train_peak_memory=['glibc default'])


def child_peak_memory(args):
    """In a fresh process: a few training steps of one variant, print its peak memory."""
    variant, fmt = args.child.split(':')
    run = make_train(variant, CL if fmt == 'channels_last' else NCHW, args)
    for _ in range(3):
        run()
    peak = torch.cuda.max_memory_allocated() if args.device.startswith('cuda') else rss_peak()
    print(json.dumps(dict(peak=peak)))


def common_args(args):
    return ['--batch', str(args.batch), '--size', str(args.size), '--depth', str(args.depth),
            '--device', args.device, '--threads', str(torch.get_num_threads())]


def peak_memory(variant, fmt, args, mmap_threshold=None):
    """The peak memory of a fresh process training ``variant`` (``child_peak_memory``),
    with glibc's ``MALLOC_MMAP_THRESHOLD_`` set if given."""
    cmd = [sys.executable, osp.abspath(__file__), '--child', f'{variant}:{FORMAT_NAMES[fmt]}',
           *common_args(args)]
    env = dict(os.environ)
    env.pop('MALLOC_MMAP_THRESHOLD_', None)
    if mmap_threshold:
        env['MALLOC_MMAP_THRESHOLD_'] = str(mmap_threshold)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])['peak']


def onnx_files(args):
    """The exported backbones: in ``--onnx-dir`` if it holds them for these settings,
    else exported there (or into a temporary folder)."""
    out_dir = args.onnx_dir or tempfile.mkdtemp(prefix='frelu_benchmark_onnx_')
    os.makedirs(out_dir, exist_ok=True)
    stamp_path = osp.join(out_dir, 'stamp.json')
    stamp = dict(depth=args.depth, batch=args.batch, size=args.size, forms=list(FRELU_FORMS))
    if osp.exists(stamp_path):
        with open(stamp_path) as f:
            saved = json.load(f)
        if saved.get('settings') == stamp and all(osp.exists(p) for p in saved['paths'].values()):
            return saved['paths']
    print(f'exporting the ONNX backbones into {out_dir} ...', flush=True)
    paths = export_backbones(out_dir, args.depth, args.batch, args.size)
    with open(stamp_path, 'w') as f:
        json.dump(dict(settings=stamp, paths=paths), f)
    args.onnx_dir = out_dir
    return paths


def timing_in_fresh_processes(args, sections):
    """Run the timing ``sections`` in ``args.runs`` fresh processes, one after the
    other (their tables print as they come); returns each ratio's values."""
    values = {}
    skip = [s for s in SECTIONS if s not in sections]
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = osp.join(tmp, 'ratios.json')
            cmd = [sys.executable, osp.abspath(__file__), '--skip', *skip, *common_args(args),
                   '--repeats', str(args.repeats), '--warmup', str(args.warmup),
                   '--inference-repeats', str(args.inference_repeats),
                   '--ratios-out', out]
            if args.onnx_dir:
                cmd += ['--onnx-dir', args.onnx_dir]
            print(f'\n--- timing run {i + 1}/{args.runs} (fresh process) ---', flush=True)
            subprocess.run(cmd, check=True)
            with open(out) as f:
                for k, v in json.load(f).items():
                    values.setdefault(k, []).append(v)
    return values


def report(title, med, unit='s', scale=1.0, base_key=None):
    base_key = base_key or relu_baseline(med)
    base = med[base_key]
    print(f'\n{title}')
    for k, v in med.items():
        mark = '  <- ReLU baseline' if k == base_key else ''
        print(f'  {k:<22} {v * scale:9.3f} {unit}   {v / base:5.2f}x ReLU{mark}')


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--depth', type=int, default=50)
    p.add_argument('--repeats', type=int, default=8, help='timed runs per variant (median)')
    p.add_argument('--inference-repeats', type=int, default=24,
                   help='timed runs per variant in the PyTorch inference section (median)')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--layer-repeats', type=int, default=7)
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--threads', type=int, default=None,
                   help='torch threads (default: torch); onnxruntime keeps its default')
    p.add_argument('--skip', nargs='*', default=[], choices=SECTIONS)
    p.add_argument('--onnx-dir', default=None,
                   help='keep the exported backbones here (reused if they match the settings)')
    p.add_argument('--runs', type=int, default=1,
                   help='run the timing sections (inference, ort, train) in this many fresh '
                        'processes and report the median of their ratios')
    p.add_argument('--child', default=None, help=argparse.SUPPRESS)
    p.add_argument('--ratios-out', default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        return child_peak_memory(args)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        sys.exit('--device cuda: no CUDA device here')
    if 'ort' not in args.skip and args.device != 'cpu':
        args.skip = list(args.skip) + ['ort']  # the ONNX Runtime section runs on CPU

    print(f'torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, '
          f'ResNet-{args.depth} (ActResNet, FReLU at all 3 sites of layer1-3), '
          f'batch {args.batch}, {args.size}x{args.size}, median of {args.repeats} '
          f'(PyTorch inference: of {args.inference_repeats})')
    print('memory format: relu = the faster of nchw / channels_last (both timed); '
          'naive = nchw; ours = channels_last')
    print(f'cpu: {describe_cpu()}')
    print(f'FReLU kernel: {fused_kernel.describe()}')
    temporary = args.onnx_dir is None  # exported into a temporary folder: removed at the end
    paths = onnx_files(args) if 'ort' not in args.skip else None
    try:
        run_sections(args, paths)
    finally:
        if temporary and args.onnx_dir:
            shutil.rmtree(args.onnx_dir, ignore_errors=True)


def run_sections(args, paths):
    """The sections not in ``args.skip``, then the ratios with targets and floors."""
    ratios, per_run = {}, {}
    relu_train_fmt = CL
    timed = [s for s in TIMED if s not in args.skip]
    if args.runs > 1 and timed:
        per_run = timing_in_fresh_processes(args, timed)
        ratios.update({k: statistics.median(v) for k, v in per_run.items()})
        args.skip = list(args.skip) + timed
        if ratios.get('relu train nchw faster', 0.0) > 0.5:  # in most of the runs
            relu_train_fmt = NCHW

    if 'inference' not in args.skip:
        med, r = pytorch_inference(args)
        report('PyTorch inference forward (no grad, eval)', med)
        ratios.update(r)

    if 'ort' not in args.skip:
        import onnxruntime
        med, r = ort_inference(args, paths)
        report(f'ONNX Runtime {onnxruntime.__version__} inference (plain InferenceSession, '
               f'default options; frelu {DEFAULT_FRELU_FORM} = the default export)', med,
               base_key='ort relu')
        ratios.update(r)

    if 'train' not in args.skip:
        med, r = train_step(args)
        frozen = {k: v for k, v in med.items() if not k.startswith(BATCH_STATS)}
        batch = {k[len(BATCH_STATS):]: v for k, v in med.items() if k.startswith(BATCH_STATS)}
        report('training step (forward + backward + SGD; norms frozen: norm_eval=True, the '
               'backbone default)', frozen)
        report('training step, norms on batch statistics (norm_eval=False)', batch)
        relu_train_fmt = NCHW if r['relu train nchw faster'] else CL
        ratios.update(r)

    if 'memory' not in args.skip:
        cuda = args.device.startswith('cuda')  # peak allocated: no allocator settings
        settings = MEMORY_SETTINGS[:1] if cuda else MEMORY_SETTINGS
        peaks, rounds, base_key, r = train_peak_memory(
            lambda v, fmt, threshold: peak_memory(v, fmt, args, None if cuda else threshold),
            relu_train_fmt, args.runs, FORMAT_NAMES.get, settings)
        for setting, _, _, label in settings:
            label = 'peak allocated' if cuda else f'peak RSS; {label}'
            report(f'training {label} (fresh process per variant, 3 steps; ReLU in its '
                   f'faster training format; median of {rounds[setting]} processes each)',
                   peaks[setting], unit='GB', scale=1e-9, base_key=base_key)
        ratios.update(r)

    if 'layers' not in args.skip:
        print('\nper-layer FReLU (ms, median; input batch x width x s x s; ReLU includes a copy '
              'of its input; train = forward + backward)')
        print(f'  {"width":>5} {"s":>3} | {"relu inf":>9} {"naive inf":>9} {"ours inf":>9} | '
              f'{"relu trn":>9} {"naive trn":>9} {"ours trn":>9}')
        for width, size, r in layer_timings(args):
            print(f'  {width:>5} {size:>3} | {r["relu_inf"]:9.2f} {r["naive_inf"]:9.2f} '
                  f'{r["ours_inf"]:9.2f} | {r["relu_train"]:9.2f} {r["naive_train"]:9.2f} '
                  f'{r["ours_train"]:9.2f}')

    if args.ratios_out:
        with open(args.ratios_out, 'w') as f:
            json.dump(ratios, f)
    if any(k in ratios for k in TARGETS):
        floor = mac_floor(args.depth, args.size)
        runs = f', median of {args.runs} processes for the times' if per_run else ''
        print(f'\nratios to ReLU (ours; comparison row in brackets{runs}; floor = FReLU '
              f'multiply-adds / ReLU\'s = {floor:.3f}x, memory floor 1.00x)')
        for key, target in TARGETS.items():
            if key not in ratios:
                continue
            ok = 'met' if ratios[key] <= target else 'MISSED'
            key_floor = 1.0 if key == 'train_peak_memory' else floor
            each = ''
            if key in per_run:
                each = '; runs: ' + ' '.join(f'{r:.3f}' for r in per_run[key])
            compare = f'; {COMPARE[key]} {ratios[key + " (compare)"]:.2f}x' if key in COMPARE else ''
            for also in ALSO.get(key, ()):
                if f'{key} ({also})' in ratios:
                    what = also if key == 'train_peak_memory' else f'{also} form'
                    compare += f'; {what} {ratios[f"{key} ({also})"]:.3f}x'
            print(f'  {key:<22} {ratios[key]:6.3f}x  (target <= {target:.2f}x: {ok}; floor '
                  f'{key_floor:.3f}x{compare}{each})')


if __name__ == '__main__':
    main()
