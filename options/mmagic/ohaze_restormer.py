# Restormer on O-HAZE (dehazing), through MMagic. With the GPT-4o prior: ohaze_restormer_prior.py.
# Train: python -m mmagic_plugins.train options/mmagic/ohaze_restormer.py   (or MMagic's tools/train.py)
# Data layout (docs/mmagic.md): datasets/ohaze/{train,val}/{lq,gt}/NAME.png, the same NAME in lq and gt.
# Pipelines, loaders and metrics: _base_/paired_data.py; below, what this task and model set in it.
_base_ = ['./_base_/runtime.py', './_base_/restormer.py', './_base_/paired_data.py']

experiment_name = 'ohaze_restormer'

__metainfo = dict(dataset_type='ohaze', task_name='dehaze')
train_pipeline = [dict(step, gt_patch_size=128) if step.type == 'PairedRandomCrop' else step
                  for step in _base_.train_pipeline]
train_dataloader = dict(
    batch_size=2,
    dataset=dict(metainfo=__metainfo, data_root='datasets/ohaze/train', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(metainfo=__metainfo, data_root='datasets/ohaze/val'))
test_dataloader = val_dataloader
