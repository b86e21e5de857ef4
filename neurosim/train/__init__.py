"""Training (optional extra ``train``: torch): multi-level spiking neurons with surrogate
gradients, torch twins of neurosim's graph builders, the training loop and export.

Import the submodules you need; this package imports nothing heavy itself, so neurosim works
without torch and ``neurosim.train.config`` works without torch.
"""
