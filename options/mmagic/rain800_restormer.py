# Restormer on Rain800 (deraining), through MMagic. With the GPT-4o prior: rain800_restormer_prior.py.
# Train: python -m mmagic_plugins.train options/mmagic/rain800_restormer.py   (or MMagic's tools/train.py)
# Data layout (docs/mmagic.md): datasets/rain800/{train,val}/{lq,gt}/NAME.png, the same NAME in lq and gt.
# Pipelines, loaders and metrics: _base_/paired_data.py; below, what this task and model set in it.
_base_ = ['./_base_/runtime.py', './_base_/restormer.py', './_base_/paired_data.py']

experiment_name = 'rain800_restormer'

__metainfo = dict(dataset_type='rain800', task_name='derain')
train_pipeline = [dict(step, gt_patch_size=128) if step.type == 'PairedRandomCrop' else step
                  for step in _base_.train_pipeline]
train_dataloader = dict(
    batch_size=2,
    dataset=dict(metainfo=__metainfo, data_root='datasets/rain800/train', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(metainfo=__metainfo, data_root='datasets/rain800/val'))
test_dataloader = val_dataloader
