# NAFNet on LOL (low-light enhancement) with the GPT-4o prior: lol_nafnet.py plus the lines below.
# Train: python -m mmagic_plugins.train options/mmagic/lol_nafnet_prior.py
# Priors: the set 'lol-gpt' in the cache priors/, for every input of datasets/lol (docs/mmagic.md).
_base_ = './lol_nafnet.py'

# The two lines that add the prior branch (the runner writes out the model and the pipelines):
runner_type = 'mmagic_plugins.PriorRunner'
prior = dict(cache='priors/', set='lol-gpt')

# Optional. Loads the plugin explicitly (the scoped runner name above already does), and makes a launcher that
# ignores runner_type (MMagic 1.2.0's tools/train.py) stop with an explanation instead of training the baseline.
custom_imports = dict(imports=['mmagic_plugins'], allow_failed_imports=False)
model = dict(type='PriorEditModel')
