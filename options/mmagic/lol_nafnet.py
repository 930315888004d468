# NAFNet on LOL (low-light enhancement), through MMagic. With the GPT-4o prior: lol_nafnet_prior.py.
# Train: python -m mmagic_plugins.train options/mmagic/lol_nafnet.py   (or MMagic's tools/train.py)
# Data layout (docs/mmagic.md): datasets/lol/{train,val}/{lq,gt}/NAME.png, the same NAME in lq and gt.
# Pipelines, loaders and metrics: _base_/paired_data.py; below, what this task and model set in it.
_base_ = ['./_base_/runtime.py', './_base_/nafnet.py', './_base_/paired_data.py']

experiment_name = 'lol_nafnet'

__metainfo = dict(dataset_type='lol', task_name='lowlight')
train_pipeline = [dict(step, gt_patch_size=256) if step.type == 'PairedRandomCrop' else step
                  for step in _base_.train_pipeline]
train_dataloader = dict(
    batch_size=4,
    dataset=dict(metainfo=__metainfo, data_root='datasets/lol/train', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(metainfo=__metainfo, data_root='datasets/lol/val'))
test_dataloader = val_dataloader
