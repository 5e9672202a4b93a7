"""tools/compare_runs.py on fixed result files."""
import csv
import importlib.util
import io
import json
import os

import pytest

from frelu_mm.evaluation import DET_METRICS, make_breakdown
from frelu_mm.reporting import DELTA, build_tables, paper_pspnet_iou, save_comparison

DET = {  # overall mAP, AP50, AP75, APs, APm, APl
    'ReLU': [30.2, 50.5, 31.0, 12.0, 33.0, 40.0],
    'Swish': [30.7, 51.0, 31.5, 12.5, 33.5, 40.5],
    'FReLU': [31.6, 52.3, 32.0, 11.5, 35.0, 42.0],
}
COMPLEXITY = {'ReLU': (25_557_032, 4_111_512_576), 'FReLU': (25_706_024, 4_210_861_056)}
SEG_CLASSES = ['road', 'sidewalk', 'wall', 'my extra class']
SEG = {  # mIoU, IoU per class
    'ReLU': (60.5, [90.0, 70.0, 40.0, 42.0]),
    'FReLU': (62.0, [91.5, 69.0, 45.0, None]),
}


def _write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f)


@pytest.fixture
def runs(tmp_path):
    dirs = {}
    for act, vals in DET.items():
        work = tmp_path / f'retinanet_{act.lower()}'
        per_class = {'car': dict(zip(DET_METRICS, vals)), 'person': dict(zip(DET_METRICS, vals))}
        bd = make_breakdown('det', dict(zip(DET_METRICS, vals)), per_class)
        # Swish: breakdown in a timestamped sub-folder, no complexity
        sub = '20240101_000000/' if act == 'Swish' else ''
        _write(str(work / f'{sub}breakdown.json'), bd)
        if act in COMPLEXITY:
            params, flops = COMPLEXITY[act]
            _write(str(work / 'complexity.json'), dict(
                task='det', classifier=dict(params=params, flops=flops, input_shape=[1, 3, 224, 224]),
                backbone=dict(params=params - 2_049_000, flops=flops - 2_050_000,
                              input_shape=[1, 3, 224, 224])))
        dirs.setdefault(act, []).append(str(work))
    for act, (miou, ious) in SEG.items():
        work = tmp_path / f'pspnet_{act.lower()}'
        per_class = {c: {'IoU': v, 'Acc': None if v is None else v + 1} for c, v in zip(SEG_CLASSES, ious)}
        _write(str(work / 'breakdown.json'),
               make_breakdown('seg', dict(mIoU=miou, mAcc=70.0, aAcc=90.0), per_class))
        dirs[act].append(str(work))
    return dirs, tmp_path


def test_det_table_and_deltas(runs):
    dirs, _ = runs
    tables = build_tables(dirs, paper=True, compute_complexity=False)
    det = tables['det']
    assert [r[1] for r in det.rows[:3]] == ['ReLU', 'Swish', 'FReLU']
    delta = det.row(f'ours {DELTA}', 'FReLU - ReLU')
    i = det.headers.index
    assert delta[i('mAP')] == pytest.approx(1.4)
    assert delta[i('AP50')] == pytest.approx(1.8)
    assert delta[i('APs')] == pytest.approx(-0.5)
    assert delta[i('params')] == 25_706_024 - 25_557_032
    assert delta[i('FLOPs')] == 4_210_861_056 - 4_111_512_576
    swish = det.row('ours', 'Swish')
    assert swish[i('params')] is None and swish[i('mAP')] == 30.7  # no complexity.json
    assert det.row(f'ours {DELTA}', 'Swish - ReLU')[i('params')] is None
    # the paper's rows (ResNet-50) and deltas
    assert det.row('paper', 'FReLU')[i('mAP'):] == [36.6, 55.2, 39.0, 19.2, 40.8, 51.9]
    assert det.row(f'paper {DELTA}', 'FReLU - ReLU')[i('mAP')] == pytest.approx(1.4)
    assert det.row('paper', 'ReLU')[i('FLOPs')] == 3.86e9


def test_seg_table_and_deltas(runs):
    dirs, _ = runs
    seg = build_tables(dirs, paper=True, compute_complexity=False)['seg']
    assert seg.column('class') == ['mean IU'] + SEG_CLASSES
    assert 'Swish' not in seg.headers and f'{DELTA} FReLU' in seg.headers
    mean = seg.row('mean IU')
    i = seg.headers.index
    assert mean[i('ReLU')] == 60.5 and mean[i(f'{DELTA} FReLU')] == pytest.approx(1.5)
    assert seg.row('wall')[i(f'{DELTA} FReLU')] == pytest.approx(5.0)
    assert seg.row('sidewalk')[i(f'{DELTA} FReLU')] == pytest.approx(-1.0)
    assert seg.row('my extra class')[i(f'{DELTA} FReLU')] is None
    paper = paper_pspnet_iou()
    assert seg.row('wall')[i('paper FReLU')] == paper['FReLU']['wall'] == 59.5
    assert mean[i(f'paper {DELTA} FReLU')] == pytest.approx(78.9 - 77.2)
    assert seg.row('my extra class')[i('paper ReLU')] is None


def test_files_markdown_csv_png(runs):
    dirs, tmp = runs
    out = str(tmp / 'cmp')
    text = save_comparison(build_tables(dirs, paper=True, compute_complexity=False), out)
    assert sorted(os.listdir(out)) == ['comparison.md', 'det_chart.png', 'det_table.csv', 'det_table.md',
                                       'seg_chart.png', 'seg_table.csv', 'seg_table.md']
    md = open(os.path.join(out, 'det_table.md')).read()
    lines = [[c.strip() for c in line.strip().strip('|').split('|')]
             for line in md.splitlines() if line.startswith('|')]
    assert lines[0] == ['source', 'activation', 'params', 'FLOPs', *DET_METRICS]
    assert ['ours', 'FReLU', '25.7M', '4.21G', '31.6', '52.3', '32.0', '11.5', '35.0', '42.0'] in lines
    assert ['ours', 'Swish', '-', '-', '30.7', '51.0', '31.5', '12.5', '33.5', '40.5'] in lines
    assert [f'ours {DELTA}', 'FReLU - ReLU', '+149K', '+99.3M',
            '+1.4', '+1.8', '+1.0', '-0.5', '+2.0', '+2.0'] in lines
    assert [f'paper {DELTA}', 'FReLU - ReLU', '+0', '+10M',
            '+1.4', '+1.5', '+1.5', '+0.4', '+1.1', '+3.1'] in lines
    assert md in text
    rows = list(csv.reader(io.StringIO(open(os.path.join(out, 'seg_table.csv')).read())))
    assert rows[0][:3] == ['class', 'ReLU', 'FReLU'] and rows[1][0] == 'mean IU'
    wall = rows[SEG_CLASSES.index('wall') + 2]
    assert float(wall[rows[0].index(f'{DELTA} FReLU')]) == pytest.approx(5.0)
    for png in ('det_chart.png', 'seg_chart.png'):
        import matplotlib.image as mpimg
        img = mpimg.imread(os.path.join(out, png))
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_cli_without_relu_and_errors(runs, capsys):
    dirs, tmp = runs
    spec = importlib.util.spec_from_file_location('compare_runs', 'tools/compare_runs.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = str(tmp / 'cli')
    tables = tool.main(['--frelu', *dirs['FReLU'], '--swish', *dirs['Swish'], '--out', out,
                        '--no-complexity', '--no-chart'])
    printed = capsys.readouterr().out
    assert '| ours   | FReLU      |' in printed and DELTA not in printed.split('No ReLU')[0]
    assert all(not d for d in tables['det'].delta_rows)  # no ReLU: no deltas
    assert 'No ReLU run' in open(os.path.join(out, 'det_table.md')).read()
    with pytest.raises(SystemExit, match='two det runs given for ReLU'):
        tool.main(['--relu', dirs['ReLU'][0], dirs['FReLU'][0], '--out', out])
    os.makedirs(str(tmp / 'empty' / 'sub'))
    with pytest.raises(SystemExit, match='no breakdown.json'):
        tool.main(['--relu', str(tmp / 'empty'), '--out', out])


def test_complexity_from_dumped_config(runs):
    """No complexity.json: params/FLOPs are counted from the config in the work dir."""
    from mmengine.config import Config

    from frelu_mm.analysis import backbone_complexity
    dirs, tmp = runs
    work = dirs['Swish'][0]
    cfg = Config(dict(default_scope='mmdet', model=dict(backbone=dict(
        type='ActResNet', depth=18, base_channels=16, act_cfg=dict(type='Swish')))))
    cfg.dump(os.path.join(work, 'retinanet_swish.py'))
    det = build_tables(dirs)['det']
    expected = backbone_complexity(cfg)['classifier']
    row = det.row('ours', 'Swish')
    assert row[2:4] == [expected['params'], expected['flops']]
    assert any('classifier 224x224' in n for n in det.notes)
