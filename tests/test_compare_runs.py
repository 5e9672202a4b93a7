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


CLS = {  # overall top-1, top-5 accuracy (%)
    'ReLU': (76.0, 92.9),
    'Swish': (76.5, 93.1),
    'FReLU': (77.6, 93.7),
}


@pytest.fixture
def cls_runs(tmp_path):
    """ImageNet runs: ReLU and FReLU with complexity.json, Swish without."""
    dirs = {}
    for act, (top1, top5) in CLS.items():
        work = tmp_path / f'resnet50_{act.lower()}_in1k'
        per_class = {'tench': {'Acc': top1 + 1}, 'goldfish': {'Acc': None}}
        _write(str(work / 'breakdown.json'),
               make_breakdown('cls', dict(top1=top1, top5=top5, err1=100 - top1), per_class))
        if act in COMPLEXITY:
            params, flops = COMPLEXITY[act]
            _write(str(work / 'complexity.json'), dict(
                task='cls', classifier=dict(params=params, flops=flops, num_classes=1000,
                                            input_shape=[1, 3, 224, 224]),
                backbone=dict(params=params - 2_049_000, flops=flops - 2_050_000,
                              input_shape=[1, 3, 224, 224])))
        dirs[act] = [str(work)]
    return dirs, tmp_path


def test_cls_table_and_deltas(cls_runs):
    dirs, _ = cls_runs
    tables = build_tables(dirs, paper=True, compute_complexity=False)
    assert list(tables) == ['cls']
    cls = tables['cls']
    i = cls.headers.index
    assert cls.headers == ['source', 'activation', 'params', 'FLOPs', 'top-1 err', 'top-5 err']
    assert [r[:2] for r in cls.rows[:3]] == [['ours', 'ReLU'], ['ours', 'Swish'], ['ours', 'FReLU']]
    frelu = cls.row('ours', 'FReLU')
    assert frelu[i('params'):] == [25_706_024, 4_210_861_056, pytest.approx(22.4), pytest.approx(6.3)]
    assert cls.row('ours', 'Swish')[i('params')] is None  # no complexity.json
    delta = cls.row(f'ours {DELTA}', 'FReLU - ReLU')
    assert delta[i('top-1 err')] == pytest.approx(-1.6) and delta[i('top-5 err')] == pytest.approx(-0.8)
    assert delta[i('params')] == 25_706_024 - 25_557_032
    assert cls.row(f'ours {DELTA}', 'Swish - ReLU')[i('FLOPs')] is None
    # the paper's ResNet-50 ImageNet rows: PReLU too, no top-5
    paper = [r for r in cls.rows if r[0] == 'paper']
    assert [r[1] for r in paper] == ['ReLU', 'PReLU', 'Swish', 'FReLU']
    assert [r[i('top-1 err')] for r in paper] == [24.0, 23.7, 23.5, 22.4]
    assert all(r[i('top-5 err')] is None for r in paper)
    assert cls.row('paper', 'FReLU')[i('params'):i('top-1 err')] == [25.5e6, 3.87e9]
    assert cls.row('paper', 'Swish')[i('FLOPs')] == 3.86e9
    assert cls.row(f'paper {DELTA}', 'FReLU - ReLU')[i('top-1 err')] == pytest.approx(-1.6)
    assert cls.row(f'paper {DELTA}', 'PReLU - ReLU')[i('top-1 err')] == pytest.approx(-0.3)
    assert any('ImageNet ResNet-50' in n for n in cls.notes)
    assert any('classifier 224x224' in n for n in cls.notes)


@pytest.mark.parametrize('backbone, expected', [
    ('ResNet-101', {'ReLU': (44.4e6, 7.6e9, 22.8), 'PReLU': (44.4e6, 7.6e9, 22.7),
                    'Swish': (44.4e6, 7.6e9, 22.7), 'FReLU': (44.5e6, 7.6e9, 22.1)}),
    ('ShuffleNetV2', {'ReLU': (1.4e6, 41e6, 39.6), 'PReLU': (1.4e6, 41e6, 39.1),
                      'Swish': (1.4e6, 41e6, 38.7), 'FReLU': (1.4e6, 45e6, 37.1)}),
    ('MobileNet 0.75', {'ReLU': (2.5e6, 325e6, 29.8), 'PReLU': (2.5e6, 325e6, 29.6),
                        'Swish': (2.5e6, 325e6, 28.9), 'FReLU': (2.5e6, 328e6, 28.5)}),
])
def test_cls_paper_backbones(cls_runs, backbone, expected):
    dirs, _ = cls_runs
    cls = build_tables(dirs, paper=True, paper_backbone=backbone, compute_complexity=False)['cls']
    for act, vals in expected.items():
        assert tuple(cls.row('paper', act)[2:5]) == vals, act


def test_det_paper_backbone_without_retinanet_rows(runs):
    """ResNet-101 has ImageNet rows only: the det table says so instead of failing."""
    dirs, _ = runs
    det = build_tables(dirs, paper=True, paper_backbone='ResNet-101', compute_complexity=False)['det']
    assert all(not r[0].startswith('paper') for r in det.rows)
    assert any('no RetinaNet ResNet-101 rows' in n for n in det.notes)
    shuffle = build_tables(dirs, paper=True, paper_backbone='ShuffleNetV2', compute_complexity=False)['det']
    assert shuffle.row('paper', 'FReLU')[2:5] == [3.7e6, 318e6, 32.8]


def test_cls_cli_files(cls_runs, runs, capsys):
    dirs, tmp = cls_runs
    det_dirs, _ = runs
    spec = importlib.util.spec_from_file_location('compare_runs', 'tools/compare_runs.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = str(tmp / 'cls_cmp')
    tables = tool.main(['--relu', *dirs['ReLU'], det_dirs['ReLU'][0], '--swish', *dirs['Swish'],
                        '--frelu', *dirs['FReLU'], det_dirs['FReLU'][0], '--paper',
                        '--paper-backbone', 'ResNet-101', '--out', out, '--no-complexity'])
    assert set(tables) == {'det', 'cls'}
    assert sorted(os.listdir(out)) == ['cls_chart.png', 'cls_table.csv', 'cls_table.md', 'comparison.md',
                                       'det_chart.png', 'det_table.csv', 'det_table.md']
    md = open(os.path.join(out, 'cls_table.md')).read()
    lines = [[c.strip() for c in line.strip().strip('|').split('|')]
             for line in md.splitlines() if line.startswith('|')]
    assert lines[0] == ['source', 'activation', 'params', 'FLOPs', 'top-1 err', 'top-5 err']
    assert ['ours', 'FReLU', '25.7M', '4.21G', '22.4', '6.3'] in lines
    assert ['ours', 'Swish', '-', '-', '23.5', '6.9'] in lines
    assert [f'ours {DELTA}', 'FReLU - ReLU', '+149K', '+99.3M', '-1.6', '-0.8'] in lines
    assert ['paper', 'PReLU', '44.4M', '7.6G', '22.7', '-'] in lines
    assert [f'paper {DELTA}', 'FReLU - ReLU', '+100K', '+0', '-0.7', '-'] in lines
    assert md in capsys.readouterr().out
    rows = list(csv.reader(io.StringIO(open(os.path.join(out, 'cls_table.csv')).read())))
    assert rows[0] == lines[0] and rows[3][:2] == ['ours', 'FReLU']
    assert float(rows[3][4]) == pytest.approx(22.4) and rows[-1][-1] == ''
    import matplotlib.image as mpimg
    img = mpimg.imread(os.path.join(out, 'cls_chart.png'))
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 300


def test_cls_complexity_from_dumped_config(cls_runs):
    """No complexity.json: the classifier of the config in the work dir is counted."""
    pytest.importorskip('mmpretrain')
    from mmengine.config import Config

    from frelu_mm.analysis import backbone_complexity
    dirs, _ = cls_runs
    work = dirs['Swish'][0]
    cfg = Config(dict(default_scope='mmpretrain', custom_imports=dict(imports=['frelu_mm']), model=dict(
        type='ImageClassifier',
        backbone=dict(type='ActResNet', depth=18, base_channels=8, out_indices=(3, ),
                      act_cfg=dict(type='Swish')),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
                  loss=dict(type='CrossEntropyLoss')))))
    cfg.dump(os.path.join(work, 'resnet50_swish_in1k.py'))
    cls = build_tables(dirs)['cls']
    expected = backbone_complexity(cfg)['classifier']
    assert cls.row('ours', 'Swish')[2:4] == [expected['params'], expected['flops']]
    assert expected['num_classes'] == 10
