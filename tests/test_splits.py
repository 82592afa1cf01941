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


def test_grouped_assignment_equals_per_image_rule():
    """assign_predictions_grouped over many images = assign_predictions on
    each image's matrix (ties, zero OKS, images without ground truths,
    carried ids, non-candidates)."""
    rng = np.random.default_rng(3)
    oks, pair_dt, pair_gt, expected, carried = [], [], [], [], []
    candidates = []
    n_dt = n_gt = 0
    for _ in range(60):
        D, G = rng.integers(0, 4), rng.integers(0, 4)
        cand = rng.uniform(size=G) < 0.8
        # coarse values: ties and exact zeros are common
        mat = rng.choice([0.0, 0.25, 0.5, 0.5, 0.9], (D, G))
        carry = np.where(rng.uniform(size=D) < 0.3,
                         rng.integers(-1, max(G, 1), D), -1)
        carry[carry >= G] = -1
        expected += [a + n_gt if a >= 0 else -1 for a in
                     splits.assign_predictions(mat.reshape(D, G), cand,
                                               carry)]
        carried += [c + n_gt if c >= 0 else -1 for c in carry]
        d, g = np.meshgrid(np.arange(D), np.arange(G), indexing='ij')
        pair_dt += (d.ravel() + n_dt).tolist()
        pair_gt += (g.ravel() + n_gt).tolist()
        oks += mat.ravel().tolist()
        candidates += cand.tolist()
        n_dt, n_gt = n_dt + D, n_gt + G
    got = splits.assign_predictions_grouped(
        np.array(oks), np.array(pair_dt, int), np.array(pair_gt, int), n_dt,
        np.array(candidates, bool), np.array(carried, int))
    np.testing.assert_array_equal(got, expected)
    assert (got >= 0).sum() > 20 and (got == -1).sum() > 5
    with pytest.raises(ValueError, match='contiguous'):
        splits.assign_predictions_grouped(
            np.ones(2), np.array([1, 0]), np.array([0, 0]), 2,
            np.ones(1, bool))


def test_grouped_assignment_with_nan_oks_assigns_none():
    """A NaN OKS (a ground truth with a NaN coordinate) assigns nothing, as
    assign_predictions does, instead of failing."""
    oks = np.array([np.nan, np.nan, 0.7])
    got = splits.assign_predictions_grouped(
        oks, np.array([0, 0, 1]), np.array([0, 1, 0]), 2,
        np.ones(2, bool))
    ref0 = splits.assign_predictions(oks[:2].reshape(1, 2), np.ones(2, bool))
    assert got[0] == ref0[0] == -1
    assert got[1] == 0


def test_factors_choose_the_combined_level_and_the_splits():
    """``factors=('joints', 'size')``: occlusion has no level and no split,
    the combined level is the hardest of joints and size only."""
    anns = boundary_anns()
    both = splits.annotation_levels(anns, factors=('size', 'joints'))
    assert set(both) == {'joints', 'size', 'combined', 'ids'}
    names = dict(enumerate(splits.LEVEL_NAMES))
    order = list(splits.LEVEL_NAMES)
    for i, ann in enumerate(anns):
        ref = reference_levels(ann['keypoints'], ann['bbox'], ann['iscrowd'])
        got = both['combined'][i]
        if ref is None:
            assert got == splits.NO_SPLIT
        else:
            expected = max(ref['joints'], ref['size'], key=order.index)
            assert names[int(got)] == expected, ann
    counts = splits.split_counts(anns, factors=('joints', 'size'))
    assert list(counts) == [
        'easy', 'medium', 'hard', 'easy_medium', 'joints_many',
        'joints_medium', 'joints_few', 'size_large', 'size_medium',
        'size_small', 'all']
    # occlusion made some instances harder: fewer hard without it
    assert counts['hard'] < splits.split_counts(anns)['hard']
    for bad in ((), ('joints', 'joints'), ('visibility',)):
        with pytest.raises(ValueError, match='factors must be'):
            splits.annotation_levels(anns, factors=bad)
