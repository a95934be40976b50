"""Frozen features: the content-addressed, memory-mapped `FeatureCache` on disk and the
batched extraction (sharded across processes) that fills it. A frozen layer never runs
twice on the same input: the second fit, cross-validation and ranking read from here."""
