"""Inference on an image (mmipr.apis, tools/infer.py) against tools/test.py.

A generated synthetic image, one person box, both heads: the keypoints and
scores that :func:`mmipr.apis.infer_with_boxes` predicts for the box must be
those that ``tools/test.py --dump`` writes (MMEngine's ``DumpResults``),
run in this process, on a dataset holding just that image and box. The
model is a committed one under ``weights/`` when a record there names the
config, else a seeded one saved as an ordinary MMEngine checkpoint.
"""
import glob
import importlib.util
import json
import os.path as osp
import pickle
import sys

import numpy as np
import pytest
import torch
from conftest import REPO, cli_options

from mmipr.apis import infer_with_boxes, init_inferencer

INTEGRAL = 'configs/synthetic/sbl_r18_integral_kl2.py'
DETECTION = 'configs/synthetic/sbl_r18_detection.py'
VAL_ANN = 'annotations/person_keypoints_val2017.json'


def committed_checkpoint(config: str):
    """A committed checkpoint whose record (``weights/NAME.json``) names
    ``config`` (its ``config``, or the ``command`` that trained it), or
    None."""
    for record in sorted(glob.glob(osp.join(REPO, 'weights', '*.json'))):
        with open(record) as f:
            meta = json.load(f)
        pth = record[:-len('.json')] + '.pth'
        named = (osp.normpath(str(meta.get('config', ''))) == config
                 or config in str(meta.get('command', '')).split())
        if osp.exists(pth) and named:
            return pth
    return None


def checkpoint_for(config: str, folder) -> str:
    """The committed checkpoint of ``config``, else a seeded model's."""
    committed = committed_checkpoint(config)
    if committed:
        return committed
    from mmpose.apis import init_model
    torch.manual_seed(0)
    model = init_model(osp.join(REPO, config), None, device='cpu')
    path = str(folder / 'seeded.pth')
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': model.dataset_meta}}, path)
    return path


@pytest.fixture(scope='module')
def one_person(tmp_path_factory):
    """A generated image and the dataset holding just one of its boxes:
    (data_root, image path, box (x1, y1, x2, y2))."""
    from mmipr.datasets import generate_synthetic_coco
    root = tmp_path_factory.mktemp('one_person')
    generate_synthetic_coco(str(root), num_train=1, num_val=2, seed=0,
                            workers=1, progress=False)
    with open(root / VAL_ANN) as f:
        coco = json.load(f)
    images = {im['id']: im for im in coco['images']}

    def inside(ann):  # not clipped by the dataset (x2 <= width - 1)
        x, y, w, h = ann['bbox']
        im = images[ann['image_id']]
        return x + w < im['width'] - 1 and y + h < im['height'] - 1

    ann = max((a for a in coco['annotations']
               if a['num_keypoints'] > 0 and inside(a)),
              key=lambda a: a['area'])
    image = images[ann['image_id']]
    coco.update(images=[image], annotations=[ann])
    with open(root / 'annotations' / 'one.json', 'w') as f:
        json.dump(coco, f)
    x, y, w, h = ann['bbox']
    return (str(root), str(root / 'val2017' / image['file_name']),
            [x, y, x + w, y + h])


def tools_test_predictions(config: str, checkpoint: str, data_root: str,
                           work_dir: str, monkeypatch) -> dict:
    """The predictions of ``tools/test.py CONFIG CHECKPOINT --dump`` on the
    one-box dataset (its ground-truth box), run in this process."""
    tool = load_tool('tools/test.py')
    dump = osp.join(work_dir, 'dump.pkl')
    ann_file = osp.join(data_root, 'annotations', 'one.json')
    options = {
        'test_dataloader.dataset.data_root': data_root + '/',
        'test_dataloader.dataset.ann_file': 'annotations/one.json',
        'test_dataloader.dataset.bbox_file': None,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        # --dump has made test_evaluator a list: [the metric, DumpResults]
        'test_evaluator.0.ann_file': ann_file,
    }
    monkeypatch.setattr(sys, 'argv', [
        'tools/test.py', osp.join(REPO, config), checkpoint, '--dump', dump,
        '--work-dir', work_dir, *cli_options(options)])
    tool.main()
    with open(dump, 'rb') as f:
        (sample, ) = pickle.load(f)
    return sample['pred_instances']


def load_tool(path: str):
    """A tool script of the repo as a module (its ``main``)."""
    spec = importlib.util.spec_from_file_location(
        'tool_' + osp.splitext(osp.basename(path))[0], osp.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('config', [INTEGRAL, DETECTION])
def test_inference_matches_tools_test(config, one_person, tmp_path,
                                      monkeypatch):
    data_root, image, box = one_person
    checkpoint = checkpoint_for(config, tmp_path)
    expected = tools_test_predictions(config, checkpoint, data_root,
                                      str(tmp_path / 'work'), monkeypatch)

    inferencer = init_inferencer(osp.join(REPO, config), checkpoint)
    vis = tmp_path / 'vis.png'
    pred = infer_with_boxes(inferencer, image, [box], out_file=str(vis))
    np.testing.assert_allclose(pred.pred_instances.keypoints,
                               expected['keypoints'], atol=1e-3)
    np.testing.assert_allclose(pred.pred_instances.keypoint_scores,
                               expected['keypoint_scores'], atol=1e-6)

    # the drawing: the keypoint image above the heatmap image, each the
    # image's size; the heatmap is the head's own (h~ sums to 1 per joint)
    import mmcv
    drawn = mmcv.imread(str(vis))
    height, width = mmcv.imread(image).shape[:2]
    assert drawn.shape == (2 * height, width, 3)
    heatmaps = pred.pred_fields.heatmaps
    assert heatmaps.shape[-2:] == (height, width)
    head = inferencer.inferencer.model.head
    assert type(head).__name__ == ('IntegralHead' if config == INTEGRAL
                                   else 'ArgmaxHead')


def test_inferencer_whole_image_is_the_box(one_person, tmp_path):
    """MMPose's own ``inferencer(img)`` (no detector: the whole image is the
    box) on the image cropped to the box predicts what the box does."""
    import mmcv
    data_root, image, box = one_person
    checkpoint = checkpoint_for(INTEGRAL, tmp_path)
    inferencer = init_inferencer(osp.join(REPO, INTEGRAL), checkpoint)
    x1, y1, x2, y2 = (int(v) for v in box)
    crop = mmcv.imread(image)[y1:y2, x1:x2]
    (pred, ) = next(inferencer(crop, draw_heatmap=True))['predictions'][0]
    expected = infer_with_boxes(inferencer, image, [[x1, y1, x2, y2]])
    # The same affine map shifted by whole pixels; OpenCV's warpAffine
    # quantises sample positions to 1/32 pixel in absolute coordinates, so
    # the crops differ slightly (seen: 2e-3 px on the keypoints).
    np.testing.assert_allclose(
        np.asarray(pred['keypoints']) + [x1, y1],
        expected.pred_instances.keypoints[0], atol=1e-2)
    np.testing.assert_allclose(pred['keypoint_scores'],
                               expected.pred_instances.keypoint_scores[0],
                               rtol=1e-3)


def test_mmposes_inferencer_ignores_given_boxes(one_person, tmp_path):
    """Why infer_with_boxes exists: MMPose 1.3.2's ``inferencer(img,
    bboxes=...)`` predicts on the whole image (``preprocess_single`` resets
    ``bboxes``). If this fails, MMPose honours boxes now: simplify."""
    data_root, image, box = one_person
    inferencer = init_inferencer(osp.join(REPO, INTEGRAL),
                                 checkpoint_for(INTEGRAL, tmp_path))
    (pred, ) = next(inferencer(image, bboxes=[[box]]))['predictions'][0]
    import mmcv
    height, width = mmcv.imread(image).shape[:2]
    np.testing.assert_allclose(pred['bbox'][0], [0, 0, width, height])


def test_infer_tool(one_person, tmp_path, capsys):
    tool = load_tool('tools/infer.py')
    data_root, image, box = one_person
    checkpoint = checkpoint_for(DETECTION, tmp_path)
    config = osp.join(REPO, DETECTION)

    with pytest.raises(SystemExit):  # three numbers are not a box
        tool.main([config, checkpoint, image, '--bboxes', '1', '2', '3'])
    assert 'four numbers per box' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main([config, str(tmp_path / 'missing.pth'), image])
    assert 'missing.pth' in capsys.readouterr().err

    out = tmp_path / 'vis.png'
    tool.main([config, checkpoint, image, '--bboxes', *map(str, box),
               '--out', str(out)])
    # the JSON is the last line (MMEngine prints its checkpoint loading)
    (pred, ) = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    expected = infer_with_boxes(init_inferencer(config, checkpoint), image,
                                [box])
    np.testing.assert_allclose(pred['keypoints'],
                               expected.pred_instances.keypoints[0],
                               atol=1e-4)
    assert pred['bbox'] == pytest.approx(box)
    assert out.is_file()
