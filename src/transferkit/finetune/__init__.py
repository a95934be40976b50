"""Strategies that train backbone layers (`finetune`, `top:K`, `gradual`, `scratch`):
the training settings (`TrainConfig`), the Lightning module and loop, the frozen-prefix
cache, checkpoints and resume, and `train_backbone`, the train step a job calls."""
