"""Speed and memory of FReLU on a ResNet backbone: ReLU vs naive FReLU vs ours.

One run measures, side by side on ``ActResNet`` (ResNet-50, batch 8, 224x224 by
default):

* inference time of ReLU (in its fastest memory format), the naive FReLU (the
  paper's module: NCHW, unfused, plain autograd) and ours (``fuse_frelu``:
  folded norm, channels-last, in-place max);
* training step time (forward, backward, SGD step; every norm in train mode) of
  ReLU, naive FReLU and ours (lean backward, channels-last);
* peak training memory: peak RSS (CUDA: peak allocated) of a fresh subprocess per
  variant, so the peaks do not mix;
* ratios to ReLU and per-layer FReLU timings at the four stage widths.

Times are medians of ``--repeats`` runs, the variants interleaved round-robin so
that a noisy (shared) machine affects them alike.

    python tools/benchmark.py --runs 5              # the documented figures
    python tools/benchmark.py --batch 2 --size 112 --repeats 3   # a quick look
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

import frelu_mm
from frelu_mm import FReLU
from frelu_mm.models import ActResNet

CL, NCHW = torch.channels_last, torch.contiguous_format
FORMAT_NAMES = {CL: 'channels_last', NCHW: 'nchw'}
TARGETS = dict(inference=1.05, train_step=1.4, train_peak_memory=1.2)


def naive_forward(self, x):
    """The paper's layer: ``max(x, BN(conv(x)))`` through plain autograd ops."""
    return torch.maximum(x, self.norm(self.conv(x)))


def build(variant, depth, device):
    """A backbone for ``variant``: ``relu``, ``naive`` or ``ours``."""
    act = dict(type='ReLU') if variant == 'relu' else dict(type='FReLU')
    torch.manual_seed(0)
    model = ActResNet(depth=depth, act_cfg=act).to(device)
    for m in model.modules():
        if isinstance(m, FReLU) and variant == 'naive':
            m.forward = naive_forward.__get__(m)
            m.lean_backward = False  # the blocks would otherwise fuse it with its norm
    return model


def sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def make_inference(variant, fmt, args):
    model = build(variant, args.depth, args.device)
    model.eval()  # mmdet's ResNet.train() returns None: no chaining
    if variant == 'ours':
        frelu_mm.fuse_frelu(model, memory_format=fmt)
    model.to(memory_format=fmt)
    x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
    return no_grad_run(model, x.contiguous(memory_format=fmt), args.device)


def no_grad_run(model, x, device):
    """A callable timing unit: ``model(x)`` under no_grad, synchronised."""
    def run():
        with torch.no_grad():
            model(x)
        sync(device)
    return run


def make_train(variant, fmt, args):
    model = build(variant, args.depth, args.device)
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


def interleaved_medians(runs, repeats, warmup):
    """Median seconds of each callable, run round-robin ``repeats`` times; each round
    starts one variant later, so that none always runs after the same other one."""
    for _ in range(warmup):
        for run in runs.values():
            run()
    names = list(runs)
    times = {k: [] for k in runs}
    for i in range(repeats):
        for k in names[i % len(names):] + names[:i % len(names)]:
            t0 = time.perf_counter()
            runs[k]()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def rss_peak():
    """This process's peak RSS in bytes (VmHWM; ru_maxrss would carry the parent's peak
    across exec on Linux)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_peak_memory(args):
    """In a fresh process: a few training steps of one variant, print its peak memory."""
    variant, fmt = args.child.split(':')
    run = make_train(variant, CL if fmt == 'channels_last' else NCHW, args)
    for _ in range(3):
        run()
    if args.device.startswith('cuda'):
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = rss_peak()
    print(json.dumps(dict(peak=peak)))


def peak_memory(variant, fmt, args):
    cmd = [sys.executable, os.path.abspath(__file__), '--child', f'{variant}:{FORMAT_NAMES[fmt]}',
           '--batch', str(args.batch), '--size', str(args.size), '--depth', str(args.depth),
           '--device', args.device, '--threads', str(torch.get_num_threads())]
    env = dict(os.environ)
    if args.mmap_threshold:
        # glibc: serve buffers above this size by mmap and unmap them on free, for
        # every variant alike (the default dynamic threshold keeps freed buffers in the
        # heap, which inflates peak RSS by the churn of temporaries)
        env['MALLOC_MMAP_THRESHOLD_'] = str(args.mmap_threshold)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])['peak']


def timing_in_fresh_processes(args, sections):
    """Run the timing ``sections`` in ``args.runs`` fresh processes, one after the
    other (their tables print as they come); returns each ratio's values."""
    import tempfile
    values = {}
    skip = [s for s in ('inference', 'train', 'memory', 'layers') if s not in sections]
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'ratios.json')
            cmd = [sys.executable, os.path.abspath(__file__), '--skip', *skip,
                   '--batch', str(args.batch), '--size', str(args.size),
                   '--depth', str(args.depth), '--device', args.device,
                   '--threads', str(torch.get_num_threads()), '--repeats', str(args.repeats),
                   '--warmup', str(args.warmup), '--ratios-out', out]
            print(f'\n--- timing run {i + 1}/{args.runs} (fresh process) ---', flush=True)
            subprocess.run(cmd, check=True)
            with open(out) as f:
                for k, v in json.load(f).items():
                    values.setdefault(k, []).append(v)
    return values


def layer_timings(args):
    """Per-FReLU times (ms) at the four stage widths, at the stage resolutions."""
    rows = []
    size = args.size // 4
    for width in (64, 128, 256, 512):
        x = torch.randn(args.batch, width, size, size, device=args.device)
        xc = x.contiguous(memory_format=CL)
        naive = FReLU(width).to(args.device)
        naive.forward = naive_forward.__get__(naive)
        ours = FReLU(width).to(args.device).to(memory_format=CL)
        fused = frelu_mm.fuse_frelu(FReLU(width).to(args.device).eval())
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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--depth', type=int, default=50)
    p.add_argument('--repeats', type=int, default=8, help='timed runs per variant (median)')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--layer-repeats', type=int, default=7)
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch)')
    p.add_argument('--skip', nargs='*', default=[], choices=['inference', 'train', 'memory', 'layers'])
    p.add_argument('--mmap-threshold', type=int, default=0,
                   help='glibc MALLOC_MMAP_THRESHOLD_ for the memory subprocesses '
                        '(0: allocator default)')
    p.add_argument('--runs', type=int, default=1,
                   help='run the timing sections (inference, train) in this many fresh '
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

    print(f'torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, '
          f'ResNet-{args.depth} (ActResNet, FReLU at all 3 sites of layer1-3), '
          f'batch {args.batch}, {args.size}x{args.size}, median of {args.repeats}')
    print('memory format: relu = the faster of nchw / channels_last (both timed); '
          'naive = nchw; ours = channels_last')
    ratios = {}
    per_run = {}
    relu_train_fmt = CL
    timed = [s for s in ('inference', 'train') if s not in args.skip]
    if args.runs > 1 and timed:
        per_run = timing_in_fresh_processes(args, timed)
        ratios.update({k: statistics.median(v) for k, v in per_run.items()})
        args.skip = list(args.skip) + timed
        if ratios.get('relu train nchw faster', 0.0) > 0.5:  # in most of the runs
            relu_train_fmt = NCHW

    def report(title, med, unit='s', scale=1.0):
        relu_fmt = min((k for k in med if k.startswith('relu')), key=med.get)
        base = med[relu_fmt]
        print(f'\n{title}')
        for k, v in med.items():
            mark = '  <- ReLU baseline' if k == relu_fmt else ''
            print(f'  {k:<22} {v * scale:9.3f} {unit}   {v / base:5.2f}x ReLU{mark}')
        return base, relu_fmt

    if 'inference' not in args.skip:
        med = interleaved_medians({
            'relu nchw': make_inference('relu', NCHW, args),
            'relu channels_last': make_inference('relu', CL, args),
            'naive FReLU nchw': make_inference('naive', NCHW, args),
            'ours fused cl': make_inference('ours', CL, args),
        }, args.repeats, args.warmup)
        base, _ = report('inference forward (no grad, eval)', med)
        ratios['inference'] = med['ours fused cl'] / base
        ratios['inference (naive)'] = med['naive FReLU nchw'] / base

    if 'train' not in args.skip:
        med = interleaved_medians({
            'relu nchw': make_train('relu', NCHW, args),
            'relu channels_last': make_train('relu', CL, args),
            'naive FReLU nchw': make_train('naive', NCHW, args),
            'ours lean cl': make_train('ours', CL, args),
        }, args.repeats, args.warmup)
        base, relu_key = report('training step (forward + backward + SGD, norms in train mode)',
                                med)
        relu_train_fmt = CL if relu_key == 'relu channels_last' else NCHW
        ratios['relu train nchw faster'] = float(relu_train_fmt == NCHW)
        ratios['train_step'] = med['ours lean cl'] / base
        ratios['train_step (naive)'] = med['naive FReLU nchw'] / base

    if 'memory' not in args.skip:
        what = 'peak allocated' if args.device.startswith('cuda') else 'peak RSS'
        variants = {f'relu {FORMAT_NAMES[relu_train_fmt]}': ('relu', relu_train_fmt),
                    'naive FReLU nchw': ('naive', NCHW), 'ours lean cl': ('ours', CL)}
        mem_runs = min(args.runs, 3)  # peak RSS moves less than time: at most 3 each
        samples = {k: [] for k in variants}
        for _ in range(mem_runs):  # interleaved, like the timings
            for k, (variant, fmt) in variants.items():
                samples[k].append(peak_memory(variant, fmt, args))
        peaks = {k: statistics.median(v) for k, v in samples.items()}
        alloc = f', MALLOC_MMAP_THRESHOLD_={args.mmap_threshold}' if args.mmap_threshold else ''
        runs = f', median of {mem_runs} processes each' if mem_runs > 1 else ''
        report(f'training {what} (fresh process per variant, 3 steps; ReLU in its '
               f'faster training format{alloc}{runs})', peaks, unit='GB', scale=1e-9)
        base = peaks[f'relu {FORMAT_NAMES[relu_train_fmt]}']
        ratios['train_peak_memory'] = peaks['ours lean cl'] / base
        ratios['train_peak_memory (naive)'] = peaks['naive FReLU nchw'] / base

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
    if ratios:
        runs = f', median of {args.runs} processes for the times' if per_run else ''
        print(f'\nratios to ReLU (ours; naive in brackets{runs})')
        for key, target in TARGETS.items():
            if key in ratios:
                ok = 'met' if ratios[key] <= target else 'MISSED'
                each = ''
                if key in per_run:
                    each = '; runs: ' + ' '.join(f'{r:.3f}' for r in per_run[key])
                print(f'  {key:<18} {ratios[key]:6.3f}x  (target <= {target:.2f}x: {ok}; '
                      f'naive {ratios[key + " (naive)"]:.2f}x{each})')


if __name__ == '__main__':
    main()
