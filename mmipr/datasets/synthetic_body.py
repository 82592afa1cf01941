"""An articulated 2D person with the 17 COCO keypoints, drawn with OpenCV.

A pose is built in a 3D body frame (``lateral`` to the person's left, ``down``,
``forward``; unit = standing height), turned by a yaw about the vertical axis,
projected orthographically onto the image plane and rolled in it. Projection
keeps a depth per point, so the parts of one person are painted far to near
and the far side is shaded darker, which is what tells left from right in a
profile.

Everything here works in *unit* coordinates (standing height 1, origin at the
pelvis); :class:`Body` maps them to pixels with a scale and a translation.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: COCO's keypoint names, in COCO's order.
COCO_KEYPOINT_NAMES = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
    'right_knee', 'left_ankle', 'right_ankle')

#: COCO's skeleton (1-based keypoint indices), as in person_keypoints_*.json.
COCO_SKELETON = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13),
    (6, 7), (6, 8), (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3),
    (2, 4), (3, 5), (4, 6), (5, 7))

#: the body-part classes of the part maps (``SceneImage.part_map``), 0 the
#: background: head (with neck, hair, face and ears), torso, and each limb's
#: upper and lower segment (a hand with its forearm, a shoe with its shin),
#: left and right told apart.
PART_CLASSES = (
    'background', 'head', 'torso', 'left_upper_arm', 'right_upper_arm',
    'left_lower_arm', 'right_lower_arm', 'left_upper_leg', 'right_upper_leg',
    'left_lower_leg', 'right_lower_leg')
#: the class each class becomes in a mirrored image (left <-> right)
PART_FLIP_INDICES = tuple(
    PART_CLASSES.index(name.replace('left_', '@').replace(
        'right_', 'left_').replace('@', 'right_')) for name in PART_CLASSES)
_PART = {name: k for k, name in enumerate(PART_CLASSES)}
_SEGMENT_PART = dict(upper_arm='upper_arm', forearm='lower_arm',
                     thigh='upper_leg', shin='lower_leg')

POSE_TYPES = ('standing', 'walking', 'arms_raised', 'sitting', 'free')
_POSE_PROBS = (0.28, 0.26, 0.16, 0.15, 0.15)

# Segment lengths and radii, as fractions of the standing height.
_TORSO, _NECK = 0.30, 0.13
_SHOULDER_HALF, _HIP_HALF = 0.115, 0.085
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.17, 0.16, 0.245, 0.245
_HEAD_AXES = (0.062, 0.078)
_RADII = dict(upper_arm=0.036, forearm=0.028, thigh=0.052, shin=0.039,
              neck=0.03, hand=0.026, torso_edge=0.03, ear=(0.014, 0.022))
# Face keypoints in the head frame (lateral, down, forward); nose/eyes/ears.
_FACE = np.array([[0.0, 0.012, 0.072], [0.03, -0.01, 0.054],
                  [-0.03, -0.01, 0.054], [0.064, 0.0, -0.004],
                  [-0.064, 0.0, -0.004]])

# Shifted-integer precision for cv2 drawing (1/16 px).
_SHIFT = 4
_ONE = 1 << _SHIFT

Colour = Tuple[int, int, int]


@dataclass
class Part:
    """One filled shape of a body, in unit coordinates.

    ``kind`` is ``'capsule'`` (``pts`` (2, 2), ``size`` = radius),
    ``'ellipse'`` (``pts`` (1, 2) centre, ``size`` = (a, b) semi-axes,
    ``angle`` degrees) or ``'poly'`` (``pts`` (N, 2), ``size`` = edge radius).
    ``label`` is its body-part class, an index of :data:`PART_CLASSES`.
    """
    kind: str
    pts: np.ndarray
    size: object
    colour: Colour
    depth: float
    angle: float = 0.0
    highlight: bool = True
    label: int = 0


@dataclass
class Body:
    """A posed person: keypoints (17, 2) and parts, both in unit coordinates.

    Pixel coordinates are ``unit * scale + offset``.
    """
    keypoints: np.ndarray
    parts: List[Part]
    pose_type: str
    scale: float = 1.0
    offset: np.ndarray = field(default_factory=lambda: np.zeros(2))
    # (17,) bool: the keypoint has a mark on the body. False for the eyes,
    # nose and ears on the far side of a turned head, which are not drawn and,
    # as in COCO's annotations of people seen from behind, not labelled.
    labelled: np.ndarray = field(
        default_factory=lambda: np.ones(len(COCO_KEYPOINT_NAMES), bool))

    def to_pixels(self, pts: np.ndarray) -> np.ndarray:
        """Map unit points (..., 2) to image pixels (..., 2)."""
        return np.asarray(pts) * self.scale + self.offset

    @property
    def pixel_keypoints(self) -> np.ndarray:
        """Keypoints in image pixels, shape (17, 2)."""
        return self.to_pixels(self.keypoints)

    def outline_points(self) -> np.ndarray:
        """Points on the boundary of the silhouette, unit coordinates (N, 2).

        Used to predict the size of the instance box before drawing.
        """
        circle = np.stack([np.cos(np.linspace(0, 2 * np.pi, 12, False)),
                           np.sin(np.linspace(0, 2 * np.pi, 12, False))], 1)
        out = []
        for p in self.parts:
            if p.kind == 'capsule':
                out += [p.pts[0] + p.size * circle, p.pts[1] + p.size * circle]
            elif p.kind == 'poly':
                out += [q + p.size * circle for q in p.pts]
            else:
                t = np.deg2rad(p.angle)
                rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
                out.append(p.pts[0] + (circle * np.asarray(p.size)) @ rot.T)
        return np.concatenate(out, 0)


def _direction(flex: float, abduct: float, side: float) -> np.ndarray:
    """Unit 3D direction of a limb segment in the body frame.

    ``flex`` rotates forward from hanging straight down (pi = straight up),
    ``abduct`` rotates outward to the person's ``side`` (+1 left, -1 right).
    """
    return np.array([side * np.sin(abduct), np.cos(abduct) * np.cos(flex),
                     np.cos(abduct) * np.sin(flex)])


def _limb_angles(rng: np.random.Generator, pose: str) -> dict:
    """Per-side (flex, abduct) of the four limbs for a pose type.

    Returns a dict ``{(limb, side): (flex, abduct)}`` with limb in
    upper_arm/forearm/thigh/shin and side +1 (left) / -1 (right).
    """
    u = rng.uniform
    a = {}
    phase = u(-1, 1)
    for side in (1, -1):
        if pose == 'standing':
            ua = (rng.normal(0, 0.15), u(0.06, 0.3))
            fa = (ua[0] + u(0, 0.5), ua[1] + u(-0.05, 0.1))
            th = (rng.normal(0, 0.07), u(0.0, 0.12))
            sh = (th[0] - u(0, 0.12), th[1])
        elif pose == 'walking':
            s = phase * side
            ua = (-0.45 * s + rng.normal(0, 0.08), u(0.05, 0.2))
            fa = (ua[0] + u(0.1, 0.7), ua[1])
            th = (0.5 * s + rng.normal(0, 0.05), u(0.0, 0.08))
            sh = (th[0] - u(0.05, 0.35) - 0.5 * max(-s, 0), th[1])
        elif pose == 'arms_raised':
            if rng.random() < 0.5:
                ua = (u(2.3, 3.1), u(0.1, 0.5))
            else:
                ua = (u(-0.2, 0.3), u(1.2, 2.7))
            fa = (ua[0] + u(-0.3, 0.6), ua[1] + u(-0.4, 0.4))
            th = (rng.normal(0, 0.06), u(0.0, 0.15))
            sh = (th[0] - u(0, 0.1), th[1])
        elif pose == 'sitting':
            ua = (u(0.1, 0.8), u(0.05, 0.3))
            fa = (ua[0] + u(0.3, 1.3), ua[1])
            th = (u(1.3, 1.75), u(0.0, 0.25))
            sh = (th[0] - u(1.2, 1.9), th[1] + u(-0.1, 0.1))
        else:  # 'free': anything within loose joint limits
            ua = (u(-0.8, 2.8), u(0.0, 1.6))
            fa = (ua[0] + u(-0.2, 1.8), ua[1] + u(-0.4, 0.4))
            th = (u(-0.5, 1.9), u(0.0, 0.6))
            sh = (th[0] - u(0.0, 2.0), th[1] + u(-0.1, 0.1))
        a['upper_arm', side], a['forearm', side] = ua, fa
        a['thigh', side], a['shin', side] = th, sh
    return a


def _shade(colour: Sequence[float], factor: float) -> Colour:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in colour)


def _person_colours(rng: np.random.Generator) -> dict:
    """Skin, hair, shirt, trousers and shoe colours (BGR) of one person."""
    skins = np.array([[185, 205, 240], [140, 175, 225], [100, 140, 195],
                      [70, 100, 150], [45, 65, 100]], float)
    skin = skins[rng.integers(len(skins))] * rng.uniform(0.9, 1.1)
    hairs = np.array([[20, 25, 30], [30, 50, 90], [60, 110, 170],
                      [160, 160, 160], [25, 40, 60]], float)
    hsv = np.uint8([[[rng.integers(180), rng.integers(60, 256),
                      rng.integers(60, 240)],
                     [rng.integers(180), rng.integers(0, 200),
                      rng.integers(30, 200)]]])
    shirt, trousers = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0].astype(float)
    # Below the elbow and the knee the colour always changes (bare skin,
    # cuffs, socks or boots), as clothes usually make it: elbows and knees
    # are then edges a small model can find, not points inside a capsule.
    cuff = skin if rng.random() < 0.5 else _contrast(shirt)
    r = rng.random()
    shin = skin if r < 0.35 else (_contrast(trousers) if r < 0.7
                                  else rng.uniform(10, 250, 3))
    return dict(skin=skin, hair=hairs[rng.integers(len(hairs))], shirt=shirt,
                trousers=trousers, shoe=rng.uniform(10, 90, 3), cuff=cuff,
                shin=shin)


def _contrast(colour: np.ndarray) -> np.ndarray:
    """A tone of ``colour`` clearly lighter or darker than it."""
    return np.clip(colour * 0.45 if colour.mean() > 110 else colour * 0.5 + 110,
                   0, 255)


def sample_body(rng: np.random.Generator) -> Body:
    """Sample a random person in unit coordinates.

    Args:
        rng (np.random.Generator): random source.

    Returns:
        Body: keypoints (17, 2) in COCO order and parts sorted far to near,
        with ``scale=1`` and ``offset=0`` (to be placed by the caller).
    """
    pose = POSE_TYPES[rng.choice(len(POSE_TYPES), p=_POSE_PROBS)]
    r = rng.random()
    if r < 0.35:
        yaw = rng.normal(0, 0.3)  # facing the camera
    elif r < 0.5:
        yaw = np.pi + rng.normal(0, 0.3)  # back
    elif r < 0.8:
        yaw = rng.choice([-1, 1]) * np.pi / 2 + rng.normal(0, 0.25)  # profile
    else:
        yaw = rng.uniform(-np.pi, np.pi)
    col = _person_colours(rng)
    ang = _limb_angles(rng, pose)

    lean = rng.uniform(0.1, 0.35) if pose == 'sitting' else rng.normal(0, 0.1)
    bend = rng.normal(0, 0.08)
    up = np.array([np.sin(bend), -np.cos(lean) * np.cos(bend),
                   np.sin(lean) * np.cos(bend)])
    lateral = np.array([np.cos(bend), np.sin(bend), 0.0])
    pelvis = np.zeros(3)
    neck = pelvis + _TORSO * up
    j3 = {}  # 3D joints in the body frame
    for side, name in ((1, 'left'), (-1, 'right')):
        sho = neck + side * _SHOULDER_HALF * lateral
        hip = pelvis + side * _HIP_HALF * lateral
        elb = sho + _UPPER_ARM * _direction(*ang['upper_arm', side], side)
        wri = elb + _FOREARM * _direction(*ang['forearm', side], side)
        kne = hip + _THIGH * _direction(*ang['thigh', side], side)
        ank = kne + _SHIN * _direction(*ang['shin', side], side)
        for j, p in zip(('shoulder', 'elbow', 'wrist', 'hip', 'knee', 'ankle'),
                        (sho, elb, wri, hip, kne, ank)):
            j3[f'{name}_{j}'] = p

    # Head: nod forward/back and turn relative to the body.
    nod, turn = rng.normal(0, 0.15), rng.normal(0, 0.3)
    head_up = up + np.array([0, 0, 0.4 * nod])
    head = neck + _NECK * head_up / np.linalg.norm(head_up)
    face = _FACE.copy()
    c, s = np.cos(turn), np.sin(turn)
    face[:, 0], face[:, 2] = (c * _FACE[:, 0] + s * _FACE[:, 2],
                              -s * _FACE[:, 0] + c * _FACE[:, 2])
    face[:, 1] += nod * face[:, 2]
    for name, off in zip(COCO_KEYPOINT_NAMES[:5], face):
        j3[name] = head + off

    # Orthographic projection after the yaw; x right, y down, z to camera.
    cy, sy = np.cos(yaw), np.sin(yaw)

    def project(p):
        p = np.asarray(p, float)
        xy = np.stack([p[..., 0] * cy + p[..., 2] * sy, p[..., 1]], -1)
        return xy, -p[..., 0] * sy + p[..., 2] * cy

    roll = rng.normal(0, 0.12) if rng.random() < 0.8 else rng.normal(0, 0.5)
    rot = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])

    def p2(name_or_pt):
        p = j3[name_or_pt] if isinstance(name_or_pt, str) else name_or_pt
        xy, z = project(p)
        return xy @ rot.T, float(z)

    kps = np.stack([p2(n)[0] for n in COCO_KEYPOINT_NAMES])
    parts: List[Part] = []
    light = rng.uniform(0.95, 1.1)

    def depth_shade(z):  # far side darker: the cue that tells left from right
        return light * float(np.clip(1.0 + 4.0 * z, 0.6, 1.15))

    for name in ('left', 'right'):
        for seg, a, b, cname in (
                ('thigh', 'hip', 'knee', 'trousers'),
                ('shin', 'knee', 'ankle', 'shin'),
                ('upper_arm', 'shoulder', 'elbow', 'shirt'),
                ('forearm', 'elbow', 'wrist', 'cuff')):
            (pa, za), (pb, zb) = p2(f'{name}_{a}'), p2(f'{name}_{b}')
            z = (za + zb) / 2 + (0.01 if seg in ('upper_arm', 'forearm') else 0)
            parts.append(Part('capsule', np.stack([pa, pb]), _RADII[seg],
                              _shade(col[cname], depth_shade(z)), z,
                              label=_PART[f'{name}_{_SEGMENT_PART[seg]}']))
        pw, zw = p2(f'{name}_wrist')
        parts.append(Part('ellipse', pw[None], (_RADII['hand'],) * 2,
                          _shade(col['skin'], depth_shade(zw)), zw + 0.005,
                          highlight=False, label=_PART[f'{name}_lower_arm']))
        ank3 = j3[f'{name}_ankle']
        pa_, za_ = p2(ank3)
        toe, _ = p2(ank3 + np.array([0, 0.01, 0.07]))
        parts.append(Part('capsule', np.stack([pa_, toe]), 0.024,
                          _shade(col['shoe'], depth_shade(za_)), za_ + 0.004,
                          highlight=False, label=_PART[f'{name}_lower_leg']))
    torso = np.stack([p2(n)[0] for n in ('left_shoulder', 'right_shoulder',
                                         'right_hip', 'left_hip')])
    parts.append(Part('poly', torso, _RADII['torso_edge'],
                      _shade(col['shirt'], light), 0.0, label=_PART['torso']))
    hc, hz = p2(head)
    nc, _ = p2(neck)
    parts.append(Part('capsule', np.stack([nc, (hc + nc) / 2]), _RADII['neck'],
                      _shade(col['skin'], 0.85 * light), -0.005, highlight=False,
                      label=_PART['head']))
    # Head: hair behind the face when it faces the camera, over it otherwise.
    facing = np.cos(yaw + turn)
    head_angle = np.rad2deg(roll)
    back = project(head + np.array([0, -0.012, -0.02]))[0] @ rot.T
    face_2d = [p2(n) for n in COCO_KEYPOINT_NAMES[:5]]
    # Grow the head until it holds every face keypoint (a turned, nodding
    # head can push an eye or ear past the ellipse), so each labelled
    # keypoint lies on its own person.
    d = (kps[:5] - hc) @ rot  # head frame
    grow = max(1.0, 1.08 * float(np.sqrt(((d / _HEAD_AXES)**2).sum(1)).max()))
    axes = (_HEAD_AXES[0] * grow, _HEAD_AXES[1] * grow)
    hair = Part('ellipse', back[None], (axes[0] * 1.03, axes[1]),
                col['hair'], 0.02, head_angle, highlight=False)
    face_part = Part('ellipse', hc[None], axes,
                     _shade(col['skin'], light), 0.02, head_angle)
    head_parts = [hair, face_part] if facing > -0.2 else [face_part, hair]
    labelled = np.ones(len(COCO_KEYPOINT_NAMES), bool)
    for i, (xy, z) in enumerate(face_2d):
        if i >= 3:  # ears: visible from the side, hidden behind the hair at back
            labelled[i] = z > -0.03
            if labelled[i]:
                head_parts.append(Part(
                    'ellipse', xy[None], _RADII['ear'],
                    _shade(col['skin'], 0.9 * light), 0.02, head_angle,
                    highlight=False))
        else:
            # Eyes dark, nose a small darker skin disc (its tip still shows
            # in profile).
            labelled[i] = z > (-0.02 if i == 0 else 0.0)
            if labelled[i]:
                colour = (_shade(col['skin'], 0.7 * light) if i == 0
                          else (30, 30, 40))
                rad = 0.014 if i == 0 else 0.0085
                head_parts.append(Part('ellipse', xy[None], (rad, rad),
                                       colour, 0.02, highlight=False))
    for k, hp in enumerate(head_parts):
        hp.depth = hz + 0.001 * k
        hp.label = _PART['head']
    parts += head_parts
    parts.sort(key=lambda q: q.depth)
    return Body(kps, parts, pose, labelled=labelled)


def _fixed(pts: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(pts) * _ONE).astype(np.int32)


def draw_part(canvas: np.ndarray, part: Part, scale: float, offset: np.ndarray,
              colour, antialias: bool, highlight: bool = False) -> None:
    """Draw one part in place on ``canvas`` (an image or a label map).

    Args:
        canvas (np.ndarray): (H, W, 3) uint8 image or (H, W) label map.
        part (Part): the shape, unit coordinates.
        scale (float), offset (np.ndarray (2,)): unit -> pixel mapping.
        colour: value to draw (a BGR tuple or a label).
        antialias (bool): smooth edges (images); label maps must not blend.
        highlight (bool): add a lighter stripe offset towards the light
            (upper left), which reads as a rounded, shaded surface.
    """
    line = cv2.LINE_AA if antialias else cv2.LINE_8
    pts = part.pts * scale + offset
    if part.kind == 'capsule':
        th = max(1, int(round(2 * part.size * scale)))
        p0, p1 = _fixed(pts)
        cv2.line(canvas, tuple(p0), tuple(p1), colour, th, line, _SHIFT)
        if highlight and th >= 4:
            d = np.array([-1.0, -1.0]) * th * 0.18
            q0, q1 = _fixed(pts + d)
            cv2.line(canvas, tuple(q0), tuple(q1), _shade(colour, 1.25),
                     max(1, th // 3), line, _SHIFT)
    elif part.kind == 'poly':
        th = max(1, int(round(2 * part.size * scale)))
        fp = _fixed(pts)
        cv2.fillPoly(canvas, [fp], colour, line, _SHIFT)
        cv2.polylines(canvas, [fp], True, colour, th, line, _SHIFT)
        if highlight and th >= 3:
            c = pts.mean(0)
            inner = c + 0.55 * (pts - c) + np.array([-1.0, -1.0]) * th * 0.3
            cv2.fillPoly(canvas, [_fixed(inner)], _shade(colour, 1.12), line,
                         _SHIFT)
    else:
        axes = np.maximum(np.asarray(part.size) * scale, 0.5)
        c = _fixed(pts[0])
        cv2.ellipse(canvas, tuple(c), tuple(int(a) for a in _fixed(axes)),
                    part.angle, 0, 360, colour, -1, line, _SHIFT)
        if highlight and axes.min() >= 4:
            c2 = _fixed(pts[0] - axes.min() * 0.25)
            cv2.ellipse(canvas, tuple(c2), tuple(int(a) for a in
                                                 _fixed(axes * 0.55)),
                        part.angle, 0, 360, _shade(colour, 1.1), -1, line,
                        _SHIFT)


def draw_body(image: np.ndarray, labels: np.ndarray, mask: np.ndarray,
              body: Body, label: int,
              part_map: Optional[np.ndarray] = None) -> None:
    """Paint ``body`` on the image, its label on ``labels``, 1 on ``mask``
    and each part's class on ``part_map``, part by part, far to near.

    Args:
        image (np.ndarray): (H, W, 3) uint8, modified in place.
        labels (np.ndarray): (H, W) uint16 id map (last painter wins), in place.
        mask (np.ndarray): (H, W) uint8, this person's silhouette, in place.
        body (Body): the placed person.
        label (int): the id written on ``labels``.
        part_map (np.ndarray, optional): (H, W) uint8 map of the
            :data:`PART_CLASSES` on top (last painter wins), in place.
    """
    for part in body.parts:
        draw_part(image, part, body.scale, body.offset, part.colour, True,
                  part.highlight)
        draw_part(labels, part, body.scale, body.offset, int(label), False)
        draw_part(mask, part, body.scale, body.offset, 1, False)
        if part_map is not None:
            draw_part(part_map, part, body.scale, body.offset, part.label,
                      False)
