"""Classifier heads on features: logistic regression (C by cross-validation), linear and
MLP heads saved as safetensors; class balancing (resampling, weights) and tuned decision
thresholds for binary tasks."""
