"""Jobs, the only place that knows the order of steps: `fit` (read, choose, build the
backbone, embed or train, evaluate, write the run folder, report, track, baseline),
`resume`, `lr_find`, the baselines, the demo and the scikit-learn estimator built on the
same steps."""
