"""The figures of the demo and the study (PNG), each a function of the
runs' results: convergence (Fig. 4b), per-difficulty bars, A(s) against s
(Fig. 2b) and the same easy and hard instances as each variant sees them.
"""
from __future__ import annotations

import os.path as osp

import numpy as np

from .report import LEVELS, group_by_variant, summarize


def plot_curves(results: list[dict], out_file: str) -> str:
    """Convergence: val AP per validated epoch and mean training loss per
    epoch (Fig. 4b); runs of one variant share their length."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    groups = group_by_variant(results)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, runs in groups.items():
        aps = np.array([[m.get('coco/AP', np.nan) for m in r['val_metrics']]
                        for r in runs])
        epochs = [m['epoch'] for m in runs[0]['val_metrics']]
        line, = axes[0].plot(epochs, aps.mean(0), marker='o', ms=3,
                             label=name)
        if len(runs) > 1:
            axes[0].fill_between(epochs, aps.min(0), aps.max(0),
                                 color=line.get_color(), alpha=0.2)
        losses = np.array([r['epoch_losses'] for r in runs]).mean(0)
        axes[1].plot(np.arange(1, len(losses) + 1), losses / losses[0],
                     marker='o', ms=3,
                     label=name)
    axes[0].set(xlabel='epoch', ylabel='val AP', title='Validation AP')
    axes[1].set(xlabel='epoch', ylabel='loss / first-epoch loss',
                title='Training loss (relative)', yscale='log')
    for ax in axes:
        ax.grid(alpha=0.3)
        if groups:  # a document without seeded runs draws empty panels
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_file, dpi=110)
    plt.close(fig)
    return out_file


def plot_difficulty_bars(results: list[dict], out_file: str) -> str:
    """AP, EPE and A(2) per combined difficulty level, one bar per variant."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    groups = group_by_variant(results)
    panels = (('AP', 'AP (higher is better)'),
              ('EPE', 'EPE, px (lower is better)'),
              ('A(2)', 'A(2): mass within 2 px of GT'))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    width = 0.8 / max(len(groups), 1)
    x = np.arange(len(LEVELS))
    for i, (name, runs) in enumerate(groups.items()):
        for ax, (metric, _) in zip(axes, panels):
            stats = [summarize(runs, f'coco/{level}/{metric}')
                     for level in LEVELS]
            means = [m for m, _ in stats]
            errs = [s if len(runs) > 1 else 0 for _, s in stats]
            ax.bar(x + (i - (len(groups) - 1) / 2) * width, means, width,
                   yerr=errs, label=name, capsize=3)
    for ax, (_, title) in zip(axes, panels):
        ax.set_xticks(x, LEVELS)
        ax.set_title(title)
        ax.grid(alpha=0.3, axis='y')
    if groups:
        axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_file, dpi=110)
    plt.close(fig)
    return out_file


def pick_instances(ann_file: str, num_keypoints: int = 17) -> dict:
    """One easy and one hard val instance (largest box of each level).

    Returns:
        dict: level name -> COCO annotation.
    """
    from mmengine.fileio import load

    from mmipr.evaluation.splits import EASY, HARD, annotation_levels
    anns = load(ann_file)['annotations']
    levels = annotation_levels(anns, num_keypoints)['combined']
    picked = {}
    for name, code in (('easy', EASY), ('hard', HARD)):
        candidates = [a for a, lv in zip(anns, levels) if lv == code]
        if candidates:
            picked[name] = max(candidates,
                               key=lambda a: a['bbox'][2] * a['bbox'][3])
    return picked


def plot_instances(results: list[dict], data_root: str, out_file: str,
                   device: str = 'cpu') -> str:
    """The same easy and hard val instances as each variant sees them.

    For each instance (rows) and variant (columns): the prediction drawn by
    MMPose's own ``PoseLocalVisualizer`` on the crop, above the model's
    heatmaps (all joints' maxima, as MMPose's visualizer draws them).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import mmcv
    from mmpose.apis import inference_topdown, init_model
    from mmpose.registry import VISUALIZERS
    from mmpose.structures import merge_data_samples

    ann_file = osp.join(data_root, 'annotations',
                        'person_keypoints_val2017.json')
    from mmengine.fileio import load
    images = {im['id']: im for im in load(ann_file)['images']}
    instances = pick_instances(ann_file)
    first_per_variant = list(group_by_variant(results).values())
    fig, axes = plt.subplots(
        len(instances), len(first_per_variant),
        figsize=(3.2 * len(first_per_variant), 5.2 * len(instances)),
        squeeze=False)
    for col, runs in enumerate(first_per_variant):
        result = runs[0]
        cfg_file = osp.join(result['work_dir'], osp.basename(result['config']))
        model = init_model(cfg_file, result['checkpoint'], device=device)
        model.cfg.model.test_cfg.output_heatmaps = True
        model.test_cfg['output_heatmaps'] = True
        visualizer = VISUALIZERS.build(
            dict(type='PoseLocalVisualizer', name=f'study_{col}',
                 radius=2, line_width=1))
        visualizer.set_dataset_meta(model.dataset_meta)
        for row, (level, ann) in enumerate(instances.items()):
            img_path = osp.join(data_root, 'val2017',
                                images[ann['image_id']]['file_name'])
            x, y, w, h = ann['bbox']
            # merging maps the heatmaps from the crop back to the image
            sample = merge_data_samples(inference_topdown(
                model, img_path, np.array([[x, y, x + w, y + h]]),
                bbox_format='xyxy'))
            img = mmcv.imread(img_path, channel_order='rgb')
            pad = 0.25 * max(w, h)
            x0, y0 = int(max(x - pad, 0)), int(max(y - pad, 0))
            x1 = int(min(x + w + pad, img.shape[1]))
            y1 = int(min(y + h + pad, img.shape[0]))
            visualizer.add_datasample(
                'instance', img, sample, draw_gt=False, draw_bbox=False,
                draw_heatmap=True, show=False, kpt_thr=0.0)
            drawn = visualizer.get_image()
            # MMPose stacks the heatmap panel below the image: crop both
            H = img.shape[0]
            crop = np.concatenate(
                [drawn[y0:y1, x0:x1], drawn[H + y0:H + y1, x0:x1]], axis=0)
            ax = axes[row][col]
            ax.imshow(crop)
            ax.set_title(f"{result['name']}\n{level} instance", fontsize=9)
            ax.axis('off')
    fig.tight_layout()
    fig.savefig(out_file, dpi=110)
    plt.close(fig)
    return out_file



def plot_activation_sums(by_name: dict, out_file: str) -> str:
    """Fig. 2(b) / Fig. I: A(s) against s per split, one line per variant
    (seed 0)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharey=True)
    for ax, split in zip(axes, ('easy', 'medium', 'hard')):
        for name, runs in by_name.items():
            stats = runs[0].get('heatmap_stats')
            if stats and stats['splits'][split].get('activation_sum'):
                ax.plot(stats['splits'][split]['activation_sum'], marker='o',
                        ms=3, label=name)
        ax.set(title=f'A(s), {split}', xlabel='s (heatmap px)')
        ax.grid(alpha=0.3)
    axes[0].set_ylabel('activation sum')
    if axes[-1].get_legend_handles_labels()[0]:
        axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_file, dpi=110)
    plt.close(fig)
    return out_file

