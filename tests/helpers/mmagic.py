"""Helpers of the MMagic adapter tests: running the loading transforms on one file, and the confidence of the
``conf`` test set (the input's red channel)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

CONF = "conf"  # prior == the input itself, confidence == the input's red channel / 255

# A restoration config training on tiny_data (``{root}``), the base of the runner tests' configs.
BASE_CFG = """
default_scope = 'mmagic'
log_level = 'WARNING'
randomness = dict(seed=0)
model = dict(
    type='BaseEditModel',
    generator=dict(type='NAFNet', img_channels=3, mid_channels=8, middle_blk_num=1, enc_blk_nums=[1, 1],
                   dec_blk_nums=[1, 1]),
    pixel_loss=dict(type='L1Loss'),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0.0] * 3, std=[255.0] * 3))
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='BasicImageDataset', data_root='{root}/train', data_prefix=dict(img='lq', gt='gt'),
                 pipeline=[
                     dict(type='LoadImageFromFile', key='img', channel_order='rgb'),
                     dict(type='LoadImageFromFile', key='gt', channel_order='rgb'),
                     dict(type='SetValues', dictionary=dict(scale=1)),
                     dict(type='PairedRandomCrop', gt_patch_size=16),
                     dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='horizontal'),
                     dict(type='RandomTransposeHW', keys=['img', 'gt'], transpose_ratio=0.5),
                     dict(type='PackInputs')]))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='BasicImageDataset', data_root='{root}/val', data_prefix=dict(img='lq', gt='gt'),
                 pipeline=[
                     dict(type='LoadImageFromFile', key='img', channel_order='rgb'),
                     dict(type='LoadImageFromFile', key='gt', channel_order='rgb'),
                     dict(type='PackInputs')]))
val_evaluator = [dict(type='PSNR')]
val_cfg = dict(type='MultiValLoop')
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=4)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False),
                     logger=dict(type='LoggerHook', interval=1))
"""


def load_with_prior(mm, path, channel_order="bgr", **kw) -> dict:
    """MMagic's ``LoadImageFromFile`` then our ``LoadPrior(**kw)`` on ``path``; ``mm`` is the registering fixture."""
    from mmagic.registry import TRANSFORMS

    steps = [TRANSFORMS.build(dict(type="LoadImageFromFile", key="img", channel_order=channel_order)),
             TRANSFORMS.build(dict(type="LoadPrior", **kw))]
    results = dict(img_path=str(path))
    for t in steps:
        results = t(results)
    return results


def red_confidence(rgb: np.ndarray) -> np.ndarray:
    """The red channel of an (H, W, 3) uint8 RGB image as an (H, W) float32 confidence in [0, 1]."""
    return rgb[..., 0].astype(np.float32) / 255.0


def make_conf_cache(folder, inputs_root) -> "Path":
    """A cache in ``folder`` with set ``conf`` for every ``inputs_root/*/lq/*.png``: each prior is the input itself
    and its confidence the input's red channel / 255 (exact in the cache's 8-bit maps), so a confidence moved
    correctly with its prior equals the prior's red channel / 255, pixel for pixel. Returns the cache root."""
    import cv2

    from gpt4o_prior.cache import PriorCache, PriorSet, request_key, sha256_file

    cache = PriorCache(folder)
    cache.register_set(PriorSet(name=CONF, provider="simulated", label="simulated"))
    for path in sorted(Path(inputs_root).glob("*/lq/*.png")):
        rgb = np.ascontiguousarray(cv2.imread(str(path))[..., ::-1])
        src = sha256_file(path)
        key = request_key(provider="simulated", model=None, prompt_text=None, prompt_version=None,
                          params={"conf": True}, input_sha256=src)
        cache.put(key, path.read_bytes(), meta={"provider": "simulated"}, aligned=rgb, confidence=red_confidence(rgb),
                  set_name=CONF, source_sha256=src, source_name=path.name)
    return cache.root
