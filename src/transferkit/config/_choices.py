"""The names a job's settings choose from (no heavy import: the command line's help and
`--print-config` read them)."""

STRATEGIES = (
    "features",
    "finetune",
    "top:K",
    "gradual",
    "contrastive",
    "lora",
    "scratch",
    "auto",
)
HEADS = ("logistic", "linear", "mlp")
BASELINES = ("scratch", "raw", "single-task")
MODALITIES = ("image", "text", "tabular", "audio")
ENCODINGS = ("onehot", "ordinal")
TRACKERS = ("mlflow", "tensorboard")
