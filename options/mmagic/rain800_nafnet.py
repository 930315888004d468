# NAFNet on Rain800 (deraining), through MMagic. With the GPT-4o prior: rain800_nafnet_prior.py.
# Train: python -m mmagic_plugins.train options/mmagic/rain800_nafnet.py   (or MMagic's tools/train.py)
# Data layout (docs/mmagic.md): datasets/rain800/{train,val}/{lq,gt}/NAME.png, the same NAME in lq and gt.
_base_ = ['./_base_/runtime.py', './_base_/nafnet.py']

experiment_name = 'rain800_nafnet'

train_pipeline = [
    dict(type='LoadImageFromFile', key='img', channel_order='rgb'),
    dict(type='LoadImageFromFile', key='gt', channel_order='rgb'),
    dict(type='SetValues', dictionary=dict(scale=1)),
    dict(type='PairedRandomCrop', gt_patch_size=256),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='horizontal'),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='vertical'),
    dict(type='RandomTransposeHW', keys=['img', 'gt'], transpose_ratio=0.5),
    dict(type='PackInputs'),
]
val_pipeline = [
    dict(type='LoadImageFromFile', key='img', channel_order='rgb'),
    dict(type='LoadImageFromFile', key='gt', channel_order='rgb'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    num_workers=4,
    batch_size=4,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='BasicImageDataset',
        metainfo=dict(dataset_type='rain800', task_name='derain'),
        data_root='datasets/rain800/train',
        data_prefix=dict(img='lq', gt='gt'),
        pipeline=train_pipeline))

val_dataloader = dict(
    num_workers=2,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='BasicImageDataset',
        metainfo=dict(dataset_type='rain800', task_name='derain'),
        data_root='datasets/rain800/val',
        data_prefix=dict(img='lq', gt='gt'),
        pipeline=val_pipeline))
test_dataloader = val_dataloader

val_evaluator = [dict(type='MAE'), dict(type='PSNR'), dict(type='SSIM')]
test_evaluator = val_evaluator
