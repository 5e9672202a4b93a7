"""The hosts' inference APIs and tools/image_demo.py on tools/train.py checkpoints.

Each of the six demo configs (RetinaNet and PSPNet with ReLU, Swish, FReLU) and the two
demo ImageNet configs is trained for one iteration by tools/train.py. A fresh interpreter
that imports nothing but frelu_mm then loads every checkpoint through each API of its
toolkit: the loaded weights must be the checkpoint's, and the two APIs of a toolkit must
predict the same.
"""
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from frelu_mm.demo_data import make_cityscapes_scenes, make_coco_shapes, make_imagenet_mini

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    **{f'retinanet_{a}_demo': 'mmdet' for a in ('relu', 'swish', 'frelu')},
    **{f'pspnet_{a}_demo': 'mmseg' for a in ('relu', 'swish', 'frelu')},
    **{f'resnetv1c50_{a}_in1k_demo': 'mmpretrain' for a in ('relu', 'frelu')},
}
API_PAIRS = {'mmdet': ('init_detector', 'DetInferencer'),
             'mmseg': ('init_model', 'MMSegInferencer'),
             'mmpretrain': ('init_model', 'ImageClassificationInferencer')}
RUN_TOOLS = '''
import runpy, sys
for argv in {commands!r}:
    sys.argv = argv
    runpy.run_path(argv[0], run_name='__main__')
'''
ONE_ITER = ['train_cfg.max_iters=1', 'train_cfg.val_interval=100',
            'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1']


def data_options(scope, data):
    if scope == 'mmdet':
        ann = osp.join(data, 'annotations', 'instances_val.json')
        return [f'train_dataloader.dataset.data_root={data}/',
                f'val_dataloader.dataset.data_root={data}/',
                f'test_dataloader.dataset.data_root={data}/',
                f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
                'train_dataloader.batch_size=2']
    if scope == 'mmseg':
        return [f'{split}_dataloader.dataset.data_root={data}/'
                for split in ('train', 'val', 'test')] + ['train_dataloader.batch_size=2']
    classes = osp.join(data, 'meta', 'classes.txt')
    return [f'{split}_dataloader.dataset.{key}={value}' for split in ('train', 'val', 'test')
            for key, value in (('data_root', data), ('classes', classes))] + \
        ['train_dataloader.batch_size=4']


def run(code_or_script, *args, timeout=900):
    done = subprocess.run([sys.executable, *code_or_script, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-4000:]
    return done.stdout


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """config name -> (scope, config path, checkpoint, an image to predict on)."""
    tmp = tmp_path_factory.mktemp('apis')
    data = {'mmdet': str(tmp / 'coco'), 'mmseg': str(tmp / 'cityscapes'),
            'mmpretrain': str(tmp / 'imagenet')}
    make_coco_shapes(data['mmdet'], num_train=2, num_val=1, size=64)
    make_cityscapes_scenes(data['mmseg'], num_train=2, num_val=1, size=(64, 128))
    make_imagenet_mini(data['mmpretrain'], num_train=1, num_val=1, size=32)
    images = {'mmdet': osp.join(data['mmdet'], 'val', 'val_0000.png'),
              'mmseg': osp.join(data['mmseg'], 'leftImg8bit', 'val', 'demoville',
                                'demoville_000000_000000_leftImg8bit.png'),
              'mmpretrain': osp.join(data['mmpretrain'], 'val', 'DEMO_val_00001.JPEG')}
    commands, jobs = [], {}
    for name, scope in CONFIGS.items():
        config = osp.join('configs', 'demo', name + '.py')
        work = str(tmp / name)
        commands.append(['tools/train.py', config, '--work-dir', work, '--cfg-options',
                         *data_options(scope, data[scope]), *ONE_ITER])
        jobs[name] = dict(scope=scope, config=config, checkpoint=osp.join(work, 'iter_1.pth'),
                          image=images[scope])
    run(['-c', RUN_TOOLS.format(commands=commands)])
    return jobs


@pytest.fixture(scope='module')
def api_results(trained, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('api_results')
    jobs_file, results_file = str(tmp / 'jobs.json'), str(tmp / 'results.json')
    with open(jobs_file, 'w') as f:
        json.dump(list(trained.values()), f)
    run(['tests/inference_api_driver.py'], jobs_file, results_file)
    with open(results_file) as f:
        return dict(zip(trained, json.load(f)))


@pytest.mark.parametrize('name', CONFIGS)
def test_each_api_loads_the_checkpoint_and_predicts(api_results, name):
    result = api_results[name]
    first, second = API_PAIRS[CONFIGS[name]]
    for api in (first, second):
        assert result[api]['weight_gap'] == 0.0, f'{api} did not load the trained weights'
    a, b = result[first], result[second]
    if CONFIGS[name] == 'mmdet':
        assert len(a['bboxes']) == 50  # the config's max_per_img, all scores kept
        assert np.allclose(a['bboxes'], b['bboxes'], atol=1e-4) and \
            np.allclose(a['scores'], b['scores'], atol=1e-6)
    elif CONFIGS[name] == 'mmseg':
        seg = np.array(a['seg'])
        assert seg.shape == (1, 64, 128) and np.array_equal(seg, b['seg'])
    else:
        scores = np.array(a['scores'])
        assert scores.shape == (22, ) and abs(scores.sum() - 1) < 1e-4
        assert np.allclose(scores, b['scores'], atol=1e-6)


# one training iteration scores below RetinaNet's threshold: keep every box
@pytest.mark.parametrize('pair', [
    ('retinanet_relu_demo', 'retinanet_frelu_demo', ['model.test_cfg.score_thr=0']),
    ('pspnet_relu_demo', 'pspnet_frelu_demo', [])], ids=['det', 'seg'])
def test_image_demo_draws_two_models_side_by_side(trained, tmp_path, pair):
    a, b, options = trained[pair[0]], trained[pair[1]], pair[2]
    out = str(tmp_path / 'pictures')
    log = run(['tools/image_demo.py', a['image'], a['config'], a['checkpoint'], '--out-dir', out,
               '--score-thr', '0', '--compare', b['config'], b['checkpoint'],
               *(['--cfg-options', *options] if options else [])])
    picture_file = osp.join(out, osp.splitext(osp.basename(a['image']))[0] + '.png')
    assert picture_file in log
    picture = cv2.imread(picture_file)
    image = cv2.imread(a['image'])
    factor = -(-384 // min(image.shape[:2]))  # drawn enlarged to a 384-pixel short side
    h, w = image.shape[0] * factor, image.shape[1] * factor
    assert picture.shape[1] == 2 * w + 6  # two panels and the gap
    assert picture.shape[0] > h  # the title band above
    # each panel is the enlarged image with the predictions drawn over it
    enlarged = np.repeat(np.repeat(image, factor, 0), factor, 1)
    for left in (0, w + 6):
        panel = picture[-h:, left:left + w]
        assert not np.array_equal(panel, enlarged), 'nothing drawn'
        assert np.mean(np.abs(panel.astype(int) - enlarged)) < 120, 'not the image'
