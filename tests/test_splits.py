"""mmipr.evaluation.splits against the paper-notes table written out per instance."""
import numpy as np
import pytest

from mmipr.evaluation import splits


def reference_levels(kpts, bbox, iscrowd=0):
    """Levels of one instance, straight from the paper-notes table (K = 17)."""
    v = [kpts[3 * i + 2] for i in range(len(kpts) // 3)]
    n = sum(1 for x in v if x > 0)
    if n == 0 or iscrowd:
        return None
    joints = 'hard' if n <= 5 else ('medium' if n <= 10 else 'easy')
    occ = sum(1 for x in v if x == 1) / n
    occlusion = 'hard' if occ > 0.5 else ('medium' if occ >= 0.1 else 'easy')
    size = max(bbox[2], bbox[3])
    size = 'hard' if size < 64 else ('medium' if size <= 128 else 'easy')
    order = ['easy', 'medium', 'hard']
    combined = max([joints, occlusion, size], key=order.index)
    return {'joints': joints, 'occlusion': occlusion, 'size': size,
                'combined': combined}


def make_ann(i, n_labelled, n_occluded, size, iscrowd=0, k=17):
    kpts = []
    for j in range(k):
        v = 0 if j >= n_labelled else (1 if j < n_occluded else 2)
        kpts += [float(j), float(j), v]
    return {'id': i, 'image_id': 1, 'category_id': 1, 'keypoints': kpts,
                'bbox': [0., 0., float(size), float(size) * 0.5],
                'iscrowd': iscrowd, 'num_keypoints': n_labelled}


def boundary_anns():
    cases = []
    for n in (0, 1, 5, 6, 10, 11, 17):
        for occ_ratio in (0.0, 0.09, 0.1, 0.5, 0.51, 1.0):
            for size in (10, 63.9, 64, 128, 128.1, 500):
                n_occ = int(np.floor(occ_ratio * n + 1e-9))
                cases.append((n, n_occ, size))
    anns = [make_ann(i + 1, *c) for i, c in enumerate(cases)]
    anns.append(make_ann(len(anns) + 1, 17, 0, 300, iscrowd=1))
    return anns


def test_levels_match_table_at_boundaries():
    anns = boundary_anns()
    levels = splits.annotation_levels(anns)
    names = dict(enumerate(splits.LEVEL_NAMES))
    for i, ann in enumerate(anns):
        ref = reference_levels(ann['keypoints'], ann['bbox'], ann['iscrowd'])
        for factor in ('joints', 'occlusion', 'size', 'combined'):
            got = levels[factor][i]
            if ref is None:
                assert got == splits.NO_SPLIT
            else:
                assert names[int(got)] == ref[factor], (ann, factor)
    assert list(levels['ids']) == [a['id'] for a in anns]


def test_split_counts_match_reference_tally():
    anns = boundary_anns()
    counts = splits.split_counts(anns)
    refs = [reference_levels(a['keypoints'], a['bbox'], a['iscrowd'])
            for a in anns]
    names = {'joints': ('joints_many', 'joints_medium', 'joints_few'),
             'occlusion': ('occlusion_low', 'occlusion_medium',
                           'occlusion_high'),
             'size': ('size_large', 'size_medium', 'size_small'),
             'combined': ('easy', 'medium', 'hard')}
    expected = {s: 0 for s in splits.SPLIT_NAMES}
    for ref in filter(None, refs):
        for factor, level in ref.items():
            expected[names[factor][splits.LEVEL_NAMES.index(level)]] += 1
        expected['easy_medium'] += ref['combined'] in ('easy', 'medium')
    expected['all'] = sum(r is not None for r in refs)
    assert counts == expected
    assert counts['easy'] > 0 and counts['medium'] > 0 and counts['hard'] > 0


@pytest.mark.parametrize('k,bounds', [(17, (5, 10)), (14, (4, 8)),
                                      (16, (5, 9))])
def test_joints_bounds_scale_with_k(k, bounds):
    assert splits.joints_bounds(k) == bounds
    vis = np.zeros((3, k))
    for row, n in enumerate((bounds[0], bounds[0] + 1, bounds[1] + 1)):
        vis[row, :n] = 2
    assert list(splits.joints_level(vis)) == [splits.HARD, splits.MEDIUM,
                                              splits.EASY]


def test_combined_is_hardest_factor():
    e, m, h = splits.EASY, splits.MEDIUM, splits.HARD
    got = splits.combined_level(np.array([e, e, m, e]),
                                np.array([e, m, e, h]),
                                np.array([e, e, e, m]))
    assert list(got) == [e, m, m, h]


def test_wrong_keypoint_count_is_a_clear_error():
    ann = make_ann(1, 5, 0, 100)
    with pytest.raises(ValueError, match='expected 3 \\* 14'):
        splits.annotation_levels([ann], num_keypoints=14)


def test_assign_predictions_rule():
    oks = np.array([[0.2, 0.9, 0.5],    # best overall is a non-candidate
                    [0.0, 0.0, 0.0],    # overlaps nothing -> FP everywhere
                    [0.3, 0.1, 0.3],    # tie -> first candidate
                    [0.1, 0.2, 0.7]])
    candidates = np.array([True, False, True])
    assert list(splits.assign_predictions(oks, candidates)) == [2, -1, 0, 2]
    carried = np.array([1, 0, -1, 0])  # carried ann ids win over OKS
    assert list(splits.assign_predictions(oks, candidates, carried)) == \
        [-1, 0, 0, 0]
    # an image without ground truth
    assert list(splits.assign_predictions(np.zeros((2, 0)),
                                          np.zeros(0, bool))) == [-1, -1]
