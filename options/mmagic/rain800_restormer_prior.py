# Restormer on Rain800 (deraining) with the GPT-4o prior: rain800_restormer.py plus the lines below.
# Train: python -m mmagic_plugins.train options/mmagic/rain800_restormer_prior.py
# Priors: the set 'rain800-gpt' in the cache priors/, for every input of datasets/rain800 (docs/mmagic.md).
_base_ = './rain800_restormer.py'

# The two lines that add the prior branch (the runner writes out the model and the pipelines):
runner_type = 'mmagic_plugins.PriorRunner'
prior = dict(cache='priors/', set='rain800-gpt')

# Optional. Loads the plugin explicitly (the scoped runner name above already does), and makes a launcher that
# ignores runner_type (MMagic 1.2.0's tools/train.py) stop with an explanation instead of training the baseline.
custom_imports = dict(imports=['mmagic_plugins'], allow_failed_imports=False)
model = dict(type='PriorEditModel')
