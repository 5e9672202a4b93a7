"""Calls the hosts' inference APIs as a user would, with nothing but ``import frelu_mm``.

    python tests/inference_api_driver.py JOBS.json RESULTS.json

JOBS: a list of ``{"scope", "config", "checkpoint", "image"}``. For each, every API of
that toolkit loads the checkpoint and predicts; RESULTS holds, per job and API, how far
the loaded weights are from the checkpoint's and the prediction, as plain lists.
"""
import json
import sys

import torch

import frelu_mm  # noqa: F401  (the only thing a user adds)
from frelu_mm.runner import load_checkpoint_file  # for checking the weights, not loading


def weight_gap(model, checkpoint):
    """Largest difference between the model's weights and the checkpoint's."""
    state = load_checkpoint_file(checkpoint, map_location='cpu')['state_dict']
    own = model.state_dict()
    assert set(own) == set(state), sorted(set(own) ^ set(state))[:5]
    return max(float((own[k].float() - state[k].float()).abs().max()) if own[k].numel() else 0.0
               for k in own)


def det(job):
    from mmdet.apis import DetInferencer, inference_detector, init_detector
    model = init_detector(job['config'], job['checkpoint'], device='cpu')
    inferencer = DetInferencer(model=job['config'], weights=job['checkpoint'], device='cpu',
                               show_progress=False)
    # a checkpoint of one iteration scores below the config's threshold: keep every box
    for m in (model, inferencer.model):
        m.bbox_head.test_cfg.score_thr = 0.0
    pred = inference_detector(model, job['image']).pred_instances
    got = inferencer(job['image'], return_datasamples=True, no_save_vis=True)
    pred2 = got['predictions'][0].pred_instances
    return {
        'init_detector': {'weight_gap': weight_gap(model, job['checkpoint']),
                          'bboxes': pred.bboxes.tolist(), 'scores': pred.scores.tolist()},
        'DetInferencer': {'weight_gap': weight_gap(inferencer.model, job['checkpoint']),
                          'bboxes': pred2.bboxes.tolist(), 'scores': pred2.scores.tolist()},
    }


def seg(job):
    from mmseg.apis import MMSegInferencer, inference_model, init_model
    model = init_model(job['config'], job['checkpoint'], device='cpu')
    pred = inference_model(model, job['image']).pred_sem_seg.data
    inferencer = MMSegInferencer(model=job['config'], weights=job['checkpoint'], device='cpu')
    got = inferencer(job['image'], return_datasamples=True, show=False)
    pred2 = (got[0] if isinstance(got, list) else got).pred_sem_seg.data
    return {
        'init_model': {'weight_gap': weight_gap(model, job['checkpoint']),
                       'seg': pred.tolist()},
        'MMSegInferencer': {'weight_gap': weight_gap(inferencer.model, job['checkpoint']),
                            'seg': pred2.tolist()},
    }


def cls(job):
    from mmpretrain.apis import ImageClassificationInferencer, init_model
    model = init_model(job['config'], job['checkpoint'], device='cpu')
    scores = ImageClassificationInferencer(model, device='cpu')(job['image'])[0]['pred_scores']
    inferencer = ImageClassificationInferencer(model=job['config'], pretrained=job['checkpoint'],
                                               device='cpu')
    scores2 = inferencer(job['image'])[0]['pred_scores']
    return {
        'init_model': {'weight_gap': weight_gap(model, job['checkpoint']),
                       'scores': torch.as_tensor(scores).tolist()},
        'ImageClassificationInferencer': {
            'weight_gap': weight_gap(inferencer.model, job['checkpoint']),
            'scores': torch.as_tensor(scores2).tolist()},
    }


def main(jobs_file, results_file):
    with open(jobs_file) as f:
        jobs = json.load(f)
    apis = {'mmdet': det, 'mmseg': seg, 'mmpretrain': cls}
    # mmpretrain's inferencer builds its pipeline in whatever default scope is current, and
    # mmdet's and mmseg's APIs leave theirs set: a host quirk of mixing toolkits in one
    # process, not of frelu_mm. Its jobs go first, as in a process of their own.
    order = sorted(range(len(jobs)), key=lambda i: jobs[i]['scope'] != 'mmpretrain')
    results = [None] * len(jobs)
    for i in order:
        results[i] = apis[jobs[i]['scope']](jobs[i])
    with open(results_file, 'w') as f:
        json.dump(results, f)


if __name__ == '__main__':
    main(*sys.argv[1:])
