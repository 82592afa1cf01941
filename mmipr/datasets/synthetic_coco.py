"""Write a synthetic dataset in COCO's person-keypoints layout.

Layout under ``out_dir`` (what MMPose's ``CocoDataset`` reads)::

    annotations/person_keypoints_{train,val}2017.json
    {train,val}2017/000000000001.jpg ...
    person_detection_results/synthetic_val2017_detections_person.json

Every image is drawn from its own random generator, seeded from
``(seed, split, image index)``, so the output does not depend on the number
of worker processes or on the order they finish in.
"""
import json
import os
import os.path as osp
import shutil
from dataclasses import asdict, replace
from functools import partial
from multiprocessing import Pool
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmipr.evaluation.splits import LEVEL_NAMES, NO_SPLIT, instance_levels
from mmipr.utils.validation import check_choice, check_number

from .synthetic_body import COCO_KEYPOINT_NAMES, COCO_SKELETON
from .synthetic_scene import SceneConfig, SceneImage, render_scene

SPLITS = ('train', 'val')
_SPLIT_CODE = {'train': 0, 'val': 1}
_DET_STREAM = 7  # separate random stream for the detection results
DETECTION_FILE = 'person_detection_results/synthetic_val2017_detections_person.json'
LEVELS = ('hard', 'medium', 'easy')
FACTORS = ('joints', 'occlusion', 'size')
#: train split defaults: mostly easy instances and less clutter (COCO-like)
TRAIN_LEVEL_PROBS = (0.1, 0.3, 0.6)
TRAIN_CLUTTER = (3, 10)
#: why a split needs an image (MMPose cannot build an empty dataset)
EMPTY_SPLIT_HINT = ('an empty split would be generated, and MMEngine would '
                    'stop on it later ("need at least one array to '
                    'concatenate")')
#: written last, into a complete dataset only: its generation settings
MARKER_FILE = 'mmipr_synthetic_coco.json'


def image_rng(seed: int, split: str, index: int,
              stream: int = 0) -> np.random.Generator:
    """The random generator of one image (and of its detection results).

    Args:
        seed (int): dataset seed.
        split (str): 'train' or 'val'.
        index (int): image index in the split (0-based).
        stream (int): 0 for the image, another value for an independent
            stream of the same image.
    """
    return np.random.default_rng([int(seed), _SPLIT_CODE[split], int(index),
                                  int(stream)])


def render_image(seed: int, split: str, index: int,
                 cfg: Optional[SceneConfig] = None) -> SceneImage:
    """Render image ``index`` of ``split`` exactly as the generator writes it
    (before JPEG), with its masks: see :class:`SceneImage`.
    """
    if split not in _SPLIT_CODE:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    return render_scene(image_rng(seed, split, index), cfg)


def image_id(index: int) -> int:
    """COCO image id of the image with 0-based ``index`` in its split."""
    return index + 1


def _annotations(scene: SceneImage, img_id: int) -> List[dict]:
    anns = []
    for p in range(len(scene.keypoints)):
        if scene.areas[p] == 0:  # entirely outside the image
            continue
        kps = scene.keypoints[p]
        anns.append(dict(
            image_id=img_id,
            category_id=1,
            iscrowd=0,
            num_keypoints=int((kps[:, 2] > 0).sum()),
            keypoints=[round(float(v), 2) if j % 3 < 2 else int(v)
                       for j, v in enumerate(kps.reshape(-1))],
            bbox=[float(v) for v in scene.bboxes[p]],
            area=float(scene.areas[p]),
            segmentation=scene.segmentations[p]))
    return anns


def _detections(rng: np.random.Generator, anns: List[dict], w: int, h: int,
                img_id: int) -> List[dict]:
    """Detector-like boxes: jittered ground truth (some missed) and false
    positives, which score lower on average."""
    dets = []

    def clip(x, y, bw, bh):
        x0, y0 = np.clip([x, y], 0, [w - 1, h - 1])
        x1, y1 = np.clip([x + bw, y + bh], 0, [w - 1, h - 1])
        return [round(float(x0), 2), round(float(y0), 2),
                round(float(x1 - x0), 2), round(float(y1 - y0), 2)]

    for ann in anns:
        if ann['num_keypoints'] == 0 or rng.random() < 0.08:
            continue
        x, y, bw, bh = ann['bbox']
        cx = x + bw / 2 + rng.normal(0, 0.05) * bw
        cy = y + bh / 2 + rng.normal(0, 0.05) * bh
        bw2, bh2 = bw * np.exp(rng.normal(0, 0.08)), bh * np.exp(rng.normal(0, 0.08))
        box = clip(cx - bw2 / 2, cy - bh2 / 2, bw2, bh2)
        if box[2] > 1 and box[3] > 1:
            dets.append(dict(image_id=img_id, category_id=1, bbox=box,
                             score=round(float(rng.uniform(0.5, 1.0)), 4)))
    for _ in range(int(rng.poisson(0.7))):
        bw, bh = rng.uniform(16, w / 2), rng.uniform(16, h / 2)
        box = clip(rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh)
        dets.append(dict(image_id=img_id, category_id=1, bbox=box,
                         score=round(float(rng.beta(2, 4)), 4)))
    return dets


def _work(index: int, seed: int, split: str, img_dir: str,
          cfg: SceneConfig, jpeg_quality: int) -> Tuple[dict, list, list]:
    scene = render_image(seed, split, index, cfg)
    img_id = image_id(index)
    h, w = scene.image.shape[:2]
    name = f'{img_id:012d}.jpg'
    ok = cv2.imwrite(osp.join(img_dir, name), scene.image,
                     [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    if not ok:
        raise OSError(f'could not write {osp.join(img_dir, name)}')
    anns = _annotations(scene, img_id)
    dets = (_detections(image_rng(seed, split, index, _DET_STREAM), anns, w,
                        h, img_id) if split == 'val' else [])
    return dict(id=img_id, file_name=name, width=w, height=h), anns, dets


def coco_categories() -> List[dict]:
    """COCO's person category with its 17 keypoints and skeleton."""
    return [dict(supercategory='person', id=1, name='person',
                 keypoints=list(COCO_KEYPOINT_NAMES),
                 skeleton=[list(s) for s in COCO_SKELETON])]


def difficulty_counts(annotations: Sequence[dict]) -> Dict[str, Dict[str, int]]:
    """Count instances per level of each factor of the paper's splits.

    Instances without labelled keypoints are left out (COCO's keypoint
    evaluation ignores them).

    Args:
        annotations (Sequence[dict]): COCO keypoint annotations.

    Returns:
        dict: ``{factor: {'hard': n, 'medium': n, 'easy': n, 'total': n}}``
        for factor in ``joints``, ``occlusion``, ``size``
        (levels of :func:`mmipr.evaluation.splits.instance_levels`).
    """
    if not annotations:
        return {f: {**{lv: 0 for lv in LEVELS}, 'total': 0} for f in FACTORS}
    kps = np.array([a['keypoints'] for a in annotations], float).reshape(
        len(annotations), -1, 3)
    boxes = np.array([a['bbox'] for a in annotations], float)
    levels = instance_levels(kps, boxes)
    out = {}
    for f in FACTORS:
        a = levels[f]
        out[f] = {lv: int((a == LEVEL_NAMES.index(lv)).sum()) for lv in LEVELS}
        out[f]['total'] = int((a != NO_SPLIT).sum())
    return out


def format_difficulty_table(counts: Dict[str, Dict[str, int]]) -> str:
    """A Markdown table of :func:`difficulty_counts` (counts and shares)."""
    rows = ['| factor | hard | medium | easy | instances |',
            '| --- | --- | --- | --- | --- |']
    bounds = dict(joints=('1-5', '6-10', '11-17'),
                  occlusion=('>50%', '10-50%', '<10%'),
                  size=('<64px', '64-128px', '>128px'))
    for f in FACTORS:
        c = counts[f]
        tot = max(c['total'], 1)
        cells = [f'{c[lv]} ({100 * c[lv] / tot:.0f}%, {b})'
                 for lv, b in zip(LEVELS, bounds[f])]
        rows.append(f'| {f} | ' + ' | '.join(cells) + f' | {c["total"]} |')
    return '\n'.join(rows)


def write_split(out_dir: str, split: str, num_images: int, seed: int = 0,
                workers: int = 2, progress: bool = True,
                cfg: Optional[SceneConfig] = None,
                jpeg_quality: int = 90) -> dict:
    """Generate one split (images, annotation file, and for ``val`` the
    detection results).

    Args:
        out_dir (str): dataset root.
        split (str): 'train' or 'val'.
        num_images (int): number of images, at least 1.
        seed (int): dataset seed.
        workers (int): worker processes (1 = in this process).
        progress (bool): show a progress bar.
        cfg (SceneConfig, optional): generator knobs.
        jpeg_quality (int): JPEG quality (0-100).

    Returns:
        dict: ``images``, ``instances``, ``instances_with_keypoints``,
        ``detections`` and ``difficulty`` (see :func:`difficulty_counts`).
    """
    check_choice('write_split', 'split', split, SPLITS)
    check_number('write_split', 'num_images', num_images, integer=True,
                 low=1, hint=EMPTY_SPLIT_HINT)
    check_number('write_split', 'workers', workers, integer=True, low=1)
    cfg = cfg or SceneConfig()
    img_dir = osp.join(out_dir, f'{split}2017')
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    fn = partial(_work, seed=seed, split=split, img_dir=img_dir, cfg=cfg,
                 jpeg_quality=jpeg_quality)
    indices = range(num_images)
    if workers > 1 and num_images > 1:
        pool = Pool(workers)
        results = pool.imap(fn, indices, chunksize=8)
    else:
        pool, results = None, map(fn, indices)
    if progress:
        from tqdm import tqdm
        results = tqdm(results, total=num_images, desc=f'{split}2017',
                       unit='img')
    images, anns, dets = [], [], []
    try:
        for img, a, d in results:
            images.append(img)
            anns += a
            dets += d
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    for k, a in enumerate(anns):
        a['id'] = k + 1
    coco = dict(info=dict(description=f'mmipr synthetic person keypoints '
                          f'({split}, seed {seed})', version='1.0'),
                licenses=[], images=images, annotations=anns,
                categories=coco_categories())
    with open(osp.join(out_dir, 'annotations',
                       f'person_keypoints_{split}2017.json'), 'w') as f:
        json.dump(coco, f)
    if split == 'val':
        os.makedirs(osp.join(out_dir, osp.dirname(DETECTION_FILE)),
                    exist_ok=True)
        with open(osp.join(out_dir, DETECTION_FILE), 'w') as f:
            json.dump(dets, f)
    return dict(images=len(images), instances=len(anns),
                instances_with_keypoints=sum(a['num_keypoints'] > 0
                                             for a in anns),
                detections=len(dets), difficulty=difficulty_counts(anns))


def generate_synthetic_coco(out_dir: str, num_train: int = 800,
                            num_val: int = 200, seed: int = 0,
                            workers: int = 2, progress: bool = True,
                            cfg: Optional[SceneConfig] = None,
                            jpeg_quality: int = 90,
                            train_cfg: Optional[SceneConfig] = None
                            ) -> Dict[str, dict]:
    """Generate the train and val splits of a synthetic COCO-keypoints set.

    Same arguments, same bytes (annotation files and images), whatever
    ``workers`` is. The val split balances the difficulty levels (``cfg``)
    so that every split of the paper's analysis is well populated; the train
    split is skewed easy and less cluttered by default (``train_cfg``), like
    COCO, where most instances are easy: a small model trained from scratch
    for minutes learns from it, and is then evaluated on every difficulty.

    Args:
        out_dir (str): dataset root (created if missing).
        num_train (int): train images, at least 1.
        num_val (int): val images, at least 1.
        seed (int): dataset seed, at least 0.
        workers (int): worker processes.
        progress (bool): show progress bars.
        cfg (SceneConfig, optional): generator knobs (image sizes, people
            per image, difficulty level probabilities, clutter).
        jpeg_quality (int): JPEG quality.
        train_cfg (SceneConfig, optional): knobs of the train split.
            Default: ``cfg`` with level probabilities (hard, medium, easy) =
            ``TRAIN_LEVEL_PROBS`` and clutter ``TRAIN_CLUTTER``.

    Returns:
        dict: split -> counts, as :func:`write_split` returns.

    The dataset is written into a temporary sibling of ``out_dir`` and moved
    into place only when complete, with :data:`MARKER_FILE` (its settings)
    written last: a generation killed midway leaves any earlier dataset in
    ``out_dir`` untouched, never a mix of two.
    """
    for name, value in (('num_train', num_train), ('num_val', num_val)):
        check_number('generate_synthetic_coco', name, value, integer=True,
                     low=1, hint=EMPTY_SPLIT_HINT)
    check_number('generate_synthetic_coco', 'seed', seed, integer=True,
                 low=0)
    check_number('generate_synthetic_coco', 'workers', workers,
                 integer=True, low=1)
    check_number('generate_synthetic_coco', 'jpeg_quality', jpeg_quality,
                 integer=True, low=0, high=100)
    cfg = cfg or SceneConfig()
    train_cfg = train_cfg or replace(cfg, level_probs=TRAIN_LEVEL_PROBS,
                                     clutter=TRAIN_CLUTTER)
    out_dir = osp.abspath(out_dir)
    parent = osp.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    name = osp.basename(out_dir)
    tmp_dir = osp.join(parent, f'.{name}.incomplete-{os.getpid()}')
    shutil.rmtree(tmp_dir, ignore_errors=True)
    try:
        stats = {split: write_split(tmp_dir, split, n, seed, workers,
                                    progress, split_cfg, jpeg_quality)
                 for split, n, split_cfg in (('train', num_train, train_cfg),
                                             ('val', num_val, cfg))}
        settings = generation_settings(num_train, num_val, seed, cfg,
                                       jpeg_quality, train_cfg)
        with open(osp.join(tmp_dir, MARKER_FILE), 'w') as f:
            json.dump(dict(settings=settings, counts=stats), f, indent=1)
        old_dir = None
        if osp.lexists(out_dir):
            old_dir = osp.join(parent, f'.{name}.replaced-{os.getpid()}')
            os.replace(out_dir, old_dir)
        os.replace(tmp_dir, out_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    if old_dir is not None:
        shutil.rmtree(old_dir, ignore_errors=True)
    return stats


def generation_settings(num_train: int = 800, num_val: int = 200,
                        seed: int = 0, cfg: Optional[SceneConfig] = None,
                        jpeg_quality: int = 90,
                        train_cfg: Optional[SceneConfig] = None) -> dict:
    """The settings :data:`MARKER_FILE` records, as JSON-ready values.

    Same arguments and defaults as :func:`generate_synthetic_coco`.
    """
    cfg = cfg or SceneConfig()
    train_cfg = train_cfg or replace(cfg, level_probs=TRAIN_LEVEL_PROBS,
                                     clutter=TRAIN_CLUTTER)
    from mmipr.version import __version__
    return json.loads(json.dumps(dict(
        num_train=num_train, num_val=num_val, seed=seed,
        jpeg_quality=jpeg_quality, val_cfg=asdict(cfg),
        train_cfg=asdict(train_cfg), mmipr_version=__version__)))


def read_marker(root: str) -> Optional[dict]:
    """The settings of the complete synthetic dataset at ``root``, or None.

    None when ``root`` holds no dataset that :func:`generate_synthetic_coco`
    finished (no marker, an unreadable marker, or a file it lists missing).
    """
    try:
        with open(osp.join(root, MARKER_FILE)) as f:
            marker = json.load(f)
        settings = marker['settings']
    except (OSError, ValueError, KeyError, TypeError):
        return None
    needed = [osp.join('annotations', f'person_keypoints_{s}2017.json')
              for s in SPLITS] + [DETECTION_FILE, 'train2017', 'val2017']
    if not all(osp.exists(osp.join(root, p)) for p in needed):
        return None
    return settings


def ensure_synthetic_coco(root: str, num_train: int = 800,
                          num_val: int = 200, seed: int = 0,
                          workers: int = 2, progress: bool = True) -> str:
    """Use the synthetic dataset at ``root``, generating it if absent.

    The one test of "dataset present" for the demo and the study: ``root``
    must hold a complete generation (:func:`read_marker`) with the requested
    settings. A folder without a complete marker (a generation killed by an
    older version, or never generated) is regenerated in place (atomically);
    a complete dataset with other settings is an error, so that nothing is
    overwritten and no run silently trains on other data.

    Args:
        root (str): dataset root.
        num_train (int): train images.
        num_val (int): val images.
        seed (int): dataset seed.
        workers (int): worker processes if it is generated.
        progress (bool): show progress bars if it is generated.

    Returns:
        str: ``'reused'`` or ``'generated'``.

    Raises:
        ValueError: ``root`` holds a complete dataset with other settings.
    """
    wanted = generation_settings(num_train, num_val, seed)
    found = read_marker(root)
    if found == wanted:
        return 'reused'
    if found is not None:
        diff = ', '.join(f'{k}: {found.get(k)!r} there, {v!r} asked'
                         for k, v in wanted.items() if found.get(k) != v)
        raise ValueError(
            f'{root} holds a synthetic dataset generated with other settings '
            f'({diff}). Pass another --data-root, ask for its settings, or '
            f'delete {root} to regenerate it.')
    if osp.exists(root):
        print(f'{root} holds no complete synthetic dataset (no valid '
              f'{MARKER_FILE}); regenerating it.')
    generate_synthetic_coco(root, num_train=num_train, num_val=num_val,
                            seed=seed, workers=workers, progress=progress)
    return 'generated'
