# mmsp runtime base: makes every config that inherits it load the mmsp plugin.
#
# Config.fromfile imports the listed modules while reading the config, so mmsp's models,
# datasets, metrics and its safe checkpoint loader are registered before the Runner exists. That
# is what makes mmsp configs work with the stock OpenMMLab tools too (mmseg's / mmpretrain's
# tools/train.py and tools/test.py, `mim train ...`). allow_failed_imports=False turns a missing
# or broken mmsp install into an immediate ImportError instead of a later "not in the registry".
#
# Deliberately scope-neutral: combine it with `mmseg::_base_/default_runtime.py` (segmentation)
# or `mmpretrain::_base_/default_runtime.py` (classification); list it AFTER those bases.
custom_imports = dict(imports=['mmsp'], allow_failed_imports=False)
