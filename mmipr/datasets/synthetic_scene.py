"""One synthetic image: background, people placed to hit difficulty targets,
occluders, and the COCO labels read back from what was painted.

Difficulty is designed, not hoped for. Each person gets a target level
(the codes of :mod:`mmipr.evaluation.splits`: ``EASY``, ``MEDIUM``, ``HARD``)
for the three factors of the paper's splits:

* joints present (v > 0): 1-5 / 6-10 / 11-17. The image border removes
  keypoints (v = 0), so the person is shifted across a border until exactly
  ``n`` labelled keypoints stay inside. (The face keypoints on the far side
  of a turned head are never labelled: ``Body.labelled``.)
* occlusion (v == 1) / (v > 0): > 50 % / 10-50 % / < 10 %. After a person is
  painted, an occluder (a slab cut by a straight edge, or a blob) is painted
  over exactly ``m`` of its present keypoints; people are painted hardest
  first, so the later (easier) ones occlude the earlier ones, not the reverse.
* box size, max side of the box in pixels: < 64 / 64-128 / > 128. The scale
  is set from the silhouette part that stays inside the image.

The label of every keypoint is then read from the painted id map (who painted
each pixel last), so labels are exact even where the targets are missed
(e.g. when two people overlap).
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import cv2
import numpy as np
import torch

from mmipr.evaluation.splits import EASY, HARD, MEDIUM
from mmipr.heatmap.stats import round_half_up

from .synthetic_body import Body, draw_body, sample_body

NUM_KEYPOINTS = 17
#: the level of each entry of ``SceneConfig.level_probs`` (hard, medium, easy)
_LEVEL_OF_PROB = np.array([HARD, MEDIUM, EASY])
# Target ranges per level; kept off the split boundaries so rounding never
# flips a level.
_JOINT_RANGES = {HARD: (1, 5), MEDIUM: (6, 10), EASY: (11, 17)}
_SIZE_RANGES = {HARD: (26.0, 58.0), MEDIUM: (72.0, 120.0),
                EASY: (140.0, 320.0)}
_GAP_PX = 4.0  # keypoints closer than this to an occluder edge are avoided


@dataclass
class SceneConfig:
    """Knobs of the generator.

    Args:
        min_size (int): smallest image side, pixels.
        max_size (int): largest image side, pixels.
        max_people (int): people per image are 1..max_people.
        level_probs (tuple): probability of (hard, medium, easy) per factor;
            the default leans easy, as COCO does, while every level keeps
            over 20 % of the val instances.
        clutter (tuple): (min, max) number of background clutter shapes.
        shared_level_prob (float): probability that a person's three factors
            get one common level (a small person is then also mostly
            occluded and cut by the border, as in COCO); otherwise each
            factor draws its own. Either way each factor's levels keep the
            probabilities ``level_probs``.
    """
    min_size: int = 256
    max_size: int = 640
    max_people: int = 4
    level_probs: Tuple[float, float, float] = (0.25, 0.3, 0.45)
    clutter: Tuple[int, int] = (6, 18)
    shared_level_prob: float = 0.8


@dataclass
class SceneImage:
    """A rendered image with its labels and, for tests, its masks.

    Attributes:
        image (np.ndarray): (H, W, 3) uint8 BGR, before JPEG encoding.
        keypoints (np.ndarray): (P, 17, 3) float, COCO (x, y, v) per person.
        bboxes (np.ndarray): (P, 4) float xywh, tight box of the silhouette
            inside the image.
        areas (np.ndarray): (P,) silhouette area inside the image, pixels.
        segmentations (list): per person, COCO polygons of the silhouette.
        targets (np.ndarray): (P, 3) int target levels (joints, occlusion,
            size), codes of :mod:`mmipr.evaluation.splits` (``EASY`` 0,
            ``MEDIUM`` 1, ``HARD`` 2), for diagnostics.
        id_map (np.ndarray): (H, W) uint16, who painted each pixel last:
            0 background, else the painting order (1, 2, ...) of the person
            or occluder; a higher id was painted later, on top.
        person_ids (np.ndarray): (P,) the id of each person on ``id_map``.
        person_masks (np.ndarray): (P, H, W) bool, each person's full
            silhouette (also where occluded).
        occluder_masks (np.ndarray): (O, H, W) bool, each occluder object's
            full shape.
        occluder_ids (np.ndarray): (O,) the id (painting order) of each
            occluder.
        part_map (np.ndarray): (H, W) uint8, the body part on top of each
            pixel, an index of :data:`~.synthetic_body.PART_CLASSES`: every
            person's parts painted far to near as the image was, 0 where
            nobody is, or where an occluder object was painted over.
        bodies (list): (P,) the placed :class:`~.synthetic_body.Body` of
            each person (its parts' shapes, classes and painting order).
    """
    image: np.ndarray
    keypoints: np.ndarray
    bboxes: np.ndarray
    areas: np.ndarray
    segmentations: List[list]
    targets: np.ndarray
    id_map: np.ndarray
    person_ids: np.ndarray
    person_masks: np.ndarray = field(repr=False)
    occluder_masks: np.ndarray = field(repr=False)
    occluder_ids: np.ndarray = field(repr=False)
    part_map: np.ndarray = field(repr=False)
    bodies: List[Body] = field(repr=False)

    def visible_mask(self, p: int) -> np.ndarray:
        """(H, W) bool: pixels where person ``p`` is on top."""
        return self.id_map == self.person_ids[p]

    def occluder_mask(self, p: int) -> np.ndarray:
        """(H, W) bool: pixels painted over person ``p``, by occluder
        objects or by other people painted after it, built from their
        shapes (not from ``id_map``, from which the labels come)."""
        later = self.occluder_masks[self.occluder_ids > self.person_ids[p]]
        people = self.person_masks[self.person_ids > self.person_ids[p]]
        return later.any(0) | people.any(0)


def _noise_field(rng, h, w, cells, amp):
    low = rng.uniform(-amp, amp, (max(2, h // cells), max(2, w // cells), 3))
    return cv2.resize(low.astype(np.float32), (w, h),
                      interpolation=cv2.INTER_CUBIC)


def _random_colour(rng) -> Tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def draw_background(rng: np.random.Generator, h: int, w: int,
                    clutter: Tuple[int, int]) -> np.ndarray:
    """Textured, cluttered background: smooth colour fields, fine noise,
    stripes, rectangles, ellipses and lines. Returns (h, w, 3) uint8."""
    base = np.array(_random_colour(rng), np.float32)
    img = base + _noise_field(rng, h, w, int(rng.integers(40, 160)), 70)
    img += _noise_field(rng, h, w, int(rng.integers(4, 12)), 18)
    if rng.random() < 0.5:  # stripes: floors, fences, wallpaper
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = rng.uniform(0, np.pi)
        period = rng.uniform(6, 40)
        wave = np.sin((xx * np.cos(t) + yy * np.sin(t)) * 2 * np.pi / period)
        img += (rng.uniform(10, 35) * wave)[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(clutter[0], clutter[1] + 1))):
        kind = rng.integers(4)
        col = _random_colour(rng)
        c = (int(rng.integers(w)), int(rng.integers(h)))
        s = int(rng.integers(8, max(9, min(h, w) // 3)))
        if kind == 0:
            cv2.rectangle(img, c, (c[0] + s, c[1] + int(rng.integers(8, s + 9))),
                          col, -1)
        elif kind == 1:
            cv2.ellipse(img, c, (s // 2, int(rng.integers(4, s // 2 + 5))),
                        float(rng.uniform(0, 180)), 0, 360, col, -1,
                        cv2.LINE_AA)
        elif kind == 2:
            end = (int(rng.integers(w)), int(rng.integers(h)))
            cv2.line(img, c, end, col, int(rng.integers(1, 6)), cv2.LINE_AA)
        else:
            pts = np.array(c) + rng.integers(-s, s + 1, (int(rng.integers(3, 7)), 2))
            cv2.fillPoly(img, [pts.astype(np.int32)], col, cv2.LINE_AA)
    return img


def _choose_cut(proj: np.ndarray, lo: int, hi: int, gap: float,
                rng) -> Optional[Tuple[int, float]]:
    """Choose ``n`` in [lo, hi] and a cut between the n-th and (n+1)-th
    smallest of ``proj`` with at least ``gap`` on both sides.

    Returns (n, cut) or None when no n in the range has such a gap.
    """
    order = np.sort(proj)
    ok = [n for n in range(lo, min(hi, len(order) - 1) + 1)
          if order[n] - order[n - 1] >= 2 * gap]
    if not ok:
        return None
    n = int(rng.choice(ok))
    return n, float((order[n - 1] + order[n]) / 2)


def _place(rng, body: Body, w: int, h: int, joints_level: int,
           size_level: int) -> None:
    """Set ``body.scale`` and ``body.offset`` to meet the joint and size
    targets (as closely as the image allows)."""
    kps, outline = body.keypoints[body.labelled], body.outline_points()
    lo, hi = _JOINT_RANGES[joints_level]
    full = joints_level == EASY and rng.random() < 0.7
    cut = None
    if not full:
        sides = [(np.array([0.0, 1.0]), 'bottom'), (np.array([0.0, -1.0]), 'top'),
                 (np.array([1.0, 0.0]), 'right'), (np.array([-1.0, 0.0]), 'left')]
        for i in rng.permutation(4):
            # bottom most often: people cut at the waist or knees
            i = 0 if rng.random() < 0.35 else i
            u = sides[i][0]
            # The gap is in unit coordinates: about 3 px on a 60 px person.
            c = _choose_cut(kps @ u, lo, min(hi, len(kps) - 1), 0.025, rng)
            if c is not None:
                cut = (u, c[1])
                break
    if cut is None:
        inside = outline
    else:
        u, c = cut
        inside = outline[outline @ u <= c]
        # the silhouette runs on to the border: the box reaches the cut line
        inside = np.concatenate([inside, inside - np.outer(inside @ u - c, u)])
    ext = inside.max(0) - inside.min(0)
    lo_s, hi_s = _SIZE_RANGES[size_level]
    target = rng.uniform(lo_s, hi_s)
    fit = min((w - 4) / max(ext[0], 1e-6), (h - 4) / max(ext[1], 1e-6))
    scale = min(target / max(ext.max(), 1e-6), fit)
    body.scale = scale
    px = inside * scale
    mn, mx = px.min(0), px.max(0)
    off = np.array([rng.uniform(2 - mn[0], max(2 - mn[0], w - 3 - mx[0])),
                    rng.uniform(2 - mn[1], max(2 - mn[1], h - 3 - mx[1]))])
    if cut is not None:
        u, c = cut
        # put the image border (x.u = e) exactly on the cut line
        e = {(0.0, 1.0): h - 1, (0.0, -1.0): 0.0,
             (1.0, 0.0): w - 1, (-1.0, 0.0): 0.0}[tuple(u)]
        along = e - scale * c
        off = off - (off @ u) * u + along * u
    body.offset = off


def keypoint_pixels(kps: np.ndarray) -> np.ndarray:
    """Pixel index (col, row) of keypoints (..., 2): OpenCV puts pixel
    centres on integers, so this is rounding, halves up as everywhere in
    mmipr (:func:`mmipr.heatmap.stats.round_half_up`). Returns int64."""
    return round_half_up(torch.as_tensor(np.asarray(kps))).numpy()


def inside_image(kps: np.ndarray, w: int, h: int) -> np.ndarray:
    """(...,) bool: keypoint lies in the image (its pixel exists)."""
    p = keypoint_pixels(kps)
    return (p[..., 0] >= 0) & (p[..., 0] < w) & (p[..., 1] >= 0) & (p[..., 1] < h)


def _occluder_count(rng, level: int, n: int) -> Optional[Tuple[int, int]]:
    """Range of the number of present keypoints to cover for an occlusion
    level, ratios strictly inside the level; None when impossible."""
    if n == 0:
        return None
    if level == HARD:
        # Mostly leave some keypoints in view: a fully hidden person is rare.
        lo, hi = n // 2 + 1, n if n <= 2 or rng.random() < 0.15 else n - 1
    elif level == MEDIUM:
        lo, hi = n // 10 + 1, (n - 1) // 2
    else:
        lo, hi = 0, (n - 1) // 10
    return (lo, hi) if lo <= hi else None


def _star_polygon(rng, centre, r_lo, r_hi, n=14):
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = rng.uniform(r_lo, r_hi, n)
    return centre + np.stack([np.cos(t), np.sin(t)], 1) * r[:, None]


def _occluder_polygons(rng, pts: np.ndarray, m_range: Tuple[int, int],
                       size: float) -> List[np.ndarray]:
    """Polygons (pixels) covering exactly m of ``pts`` (N, 2), m in m_range,
    each uncovered point kept at least ``_GAP_PX`` from every edge."""
    lo, hi = m_range
    n = len(pts)
    for _ in range(10):
        if rng.random() < 0.6:  # a slab: table, wall, car, another object
            t = rng.uniform(0, 2 * np.pi) if rng.random() < 0.5 else \
                np.pi / 2 + rng.choice([0, np.pi / 2, -np.pi / 2])
            u = np.array([np.cos(t), np.sin(t)])
            proj = pts @ u
            # covering the m largest projections = keeping the n - m smallest
            c = _choose_cut(proj, max(n - hi, 1), n - lo, _GAP_PX, rng)
            if c is None or (lo == n or (n - hi == 0 and rng.random() < 0.3)):
                if n - hi > 0:
                    continue
                c = (0, proj.min() - _GAP_PX)  # cover them all
            v = np.array([-u[1], u[0]])
            far = max(proj.max(), c[1]) + rng.uniform(0.2, 1.0) * size + _GAP_PX
            lat = pts @ v
            a, b = lat.min() - rng.uniform(0.1, 0.6) * size, \
                lat.max() + rng.uniform(0.1, 0.6) * size
            near = c[1]
            return [np.array([near * u + a * v, far * u + a * v,
                              far * u + b * v, near * u + b * v])]
        # a blob around one keypoint
        seed = pts[rng.integers(n)]
        d = np.linalg.norm(pts - seed, axis=1)
        order = np.sort(d)
        ok = [m for m in range(max(lo, 1), hi + 1)
              if m == n or order[m] - order[m - 1] >= 2 * _GAP_PX + 2]
        if not ok:
            continue
        m = int(rng.choice(ok))
        r_lo = order[m - 1] + _GAP_PX
        r_hi = order[m] - _GAP_PX if m < n else r_lo + rng.uniform(0.1, 0.4) * size
        return [_star_polygon(rng, seed, r_lo, max(r_lo, r_hi))]
    # Fallback: one small disc per chosen keypoint.
    m = int(rng.integers(lo, hi + 1))
    chosen = rng.choice(n, m, replace=False)
    rest = np.setdiff1d(np.arange(n), chosen)
    polys = []
    for i in chosen:
        d = np.linalg.norm(pts[rest] - pts[i], axis=1).min() if len(rest) else size
        r = min(0.45 * d, 0.15 * size + 3)
        if r >= 1.5:
            polys.append(_star_polygon(rng, pts[i], 0.8 * r, r, 10))
    return polys


def _polygons(mask: np.ndarray) -> list:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        c = cv2.approxPolyDP(c, 1.0, True)
        if len(c) >= 3:
            out.append([float(v) for v in c.reshape(-1)])
    return out


def render_scene(rng: np.random.Generator,
                 cfg: Optional[SceneConfig] = None) -> SceneImage:
    """Render one image with 1..``cfg.max_people`` people and their labels.

    Args:
        rng (np.random.Generator): the only source of randomness (seed it per
            image for reproducible, order-independent output).
        cfg (SceneConfig, optional): generator knobs.

    Returns:
        SceneImage: the image, the COCO-style labels and the masks.
    """
    cfg = cfg or SceneConfig()
    w, h = (int(v) for v in rng.integers(cfg.min_size, cfg.max_size + 1, 2))
    image = draw_background(rng, h, w, cfg.clutter)
    texture = _noise_field(rng, h, w, 3, 40) + _noise_field(rng, h, w, 20, 30)
    labels = np.zeros((h, w), np.uint16)
    part_map = np.zeros((h, w), np.uint8)
    occ_masks = []

    n_people = int(rng.integers(1, cfg.max_people + 1))
    targets = _LEVEL_OF_PROB[rng.choice(3, (n_people, 3), p=cfg.level_probs)]
    shared = rng.random(n_people) < cfg.shared_level_prob
    targets[shared] = targets[shared, :1]
    bodies = []
    for t in targets:
        body = sample_body(rng)
        _place(rng, body, w, h, int(t[0]), int(t[2]))
        bodies.append(body)
    # Hardest occlusion first, so later (easier) people only ever cover them.
    order = sorted(range(n_people),
                   key=lambda i: (-targets[i, 1], rng.random()))
    masks = np.zeros((n_people, h, w), np.uint8)
    person_ids = np.zeros(n_people, np.int64)
    painted, occluder_ids = 0, []
    for i in order:
        painted += 1
        person_ids[i] = painted
        draw_body(image, labels, masks[i], bodies[i], painted, part_map)
        kps = bodies[i].pixel_keypoints
        present = inside_image(kps, w, h) & bodies[i].labelled
        m_range = _occluder_count(rng, int(targets[i, 1]), int(present.sum()))
        if m_range is None or m_range[1] == 0:
            continue
        size = bodies[i].scale * 0.3
        polys = _occluder_polygons(rng, kps[present], m_range, size)
        if m_range[0] == 0 and rng.random() < 0.5:
            continue
        for poly in polys:
            fp = np.round(poly * 16).astype(np.int32)
            cv2.fillPoly(image, [fp], _random_colour(rng), cv2.LINE_AA, 4)
            painted += 1
            occluder_ids.append(painted)
            cv2.fillPoly(labels, [fp], painted, cv2.LINE_8, 4)
            cv2.fillPoly(part_map, [fp], 0, cv2.LINE_8, 4)
            occ_masks.append(np.zeros((h, w), np.uint8))
            cv2.fillPoly(occ_masks[-1], [fp], 1, cv2.LINE_8, 4)

    # Texture on the occluders that stayed visible, then camera noise.
    on_occ = np.isin(labels, occluder_ids)
    img = image.astype(np.float32)
    img[on_occ] += texture[on_occ]
    img += rng.normal(0, rng.uniform(2, 6), (h, w, 1)).astype(np.float32)
    image = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (3, 3), 0)

    keypoints = np.zeros((n_people, NUM_KEYPOINTS, 3))
    bboxes = np.zeros((n_people, 4))
    areas = np.zeros(n_people)
    segs = []
    for i, body in enumerate(bodies):
        kps = body.pixel_keypoints
        present = inside_image(kps, w, h) & body.labelled
        pix = keypoint_pixels(kps)
        covered = np.zeros(NUM_KEYPOINTS, bool)
        covered[present] = labels[pix[present, 1], pix[present, 0]] > person_ids[i]
        v = np.where(present, np.where(covered, 1, 2), 0)
        keypoints[i, :, :2] = np.where(present[:, None], np.round(kps, 2), 0)
        keypoints[i, :, 2] = v
        x, y, bw, bh = cv2.boundingRect(masks[i])
        bboxes[i] = (x, y, bw, bh)
        areas[i] = float(cv2.countNonZero(masks[i]))
        segs.append(_polygons(masks[i]))
    return SceneImage(image=image, keypoints=keypoints, bboxes=bboxes,
                      areas=areas, segmentations=segs, targets=targets,
                      id_map=labels, person_ids=person_ids,
                      person_masks=masks.astype(bool),
                      occluder_masks=np.array(occ_masks, bool).reshape(-1, h, w),
                      occluder_ids=np.array(occluder_ids, np.int64),
                      part_map=part_map, bodies=bodies)
