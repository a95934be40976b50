"""Label shift on sms_spam: a model trained where spam is rare, used where it is not.

The imbalance benchmark's case: the stratified 80/20 split of sms_spam (seed 0), with 1
spam in 20 kept in training (3,861 ham, 29 spam: 0.7 % spam); the untouched validation
split (966 ham, 149 spam: 13.4 %) is the target. `transferkit.adapt(train, val,
method="source-only", label_shift=...)` estimates the target's spam share from unlabelled
predictions (EM of Saerens et al. 2002, or BBSE) and shifts the head's bias by
log(pi_target / pi_source); the target labels are read only to evaluate. Each with the
argmax decision and with a `--threshold` rule (f1, precision=0.95), which label shift
re-tunes for the target's estimated class mix. Prints spam recall, precision and F1 on
the target, and the estimated spam share against the true one.

Run: python benchmarks/bench_label_shift.py
"""

from __future__ import annotations

import numpy as np

import transferkit
from transferkit.data import read_data

from _common import dataset, fresh_dir

SMS = dataset("sms_spam") / "SMSSpamCollection"
KEEP_ONE_IN = 20
RULES = ("f1", "precision=0.95")  # `--threshold` rules, tuned on the source's out-of-fold
WORK = fresh_dir("label-shift")


def write(name: str, data, rows) -> str:
    path = WORK / f"{name}.tsv"
    lines = [
        f"{data.class_names[data.labels[i]]}\t{data.inputs[i].replace(chr(9), ' ')}" for i in rows
    ]
    path.write_text("label\ttext\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def main() -> None:
    splits = read_data(SMS, seed=0)
    train, val = splits.train, splits.val
    spam = train.class_names.index("spam")
    rng = np.random.default_rng(0)
    spam_rows = np.flatnonzero(train.labels == spam)
    kept = rng.choice(spam_rows, size=len(spam_rows) // KEEP_ONE_IN, replace=False)
    rows = np.sort(np.r_[np.flatnonzero(train.labels != spam), kept])
    source = write("train", train, rows)
    target = write("val", val, range(len(val)))
    print(f"source: {len(rows)} rows, {len(kept)} spam; target: {len(val)} rows,"
          f" {int((val.labels == spam).sum())} spam")  # fmt: skip
    for rule, how in [(r, h) for r in (None, *RULES) for h in (None, "em", "bbse")]:
        result = transferkit.adapt(
            source, target, method="source-only", label_shift=how, target_labels=True,
            threshold=rule, quiet=True, out=WORK / f"run-{rule}-{how}",
        )  # fmt: skip
        m = result.metrics
        spam_m = m["per_class"]["spam"]
        priors = m["adaptation"]["label_shift"] or {}
        estimated = priors.get("estimated_target", {}).get("spam")
        print(
            f"threshold {rule or 'argmax':14s} label shift {how or 'none':4s}: spam recall"
            f" {spam_m['recall']:.3f}, precision"
            f" {spam_m['precision']:.3f}, F1 {spam_m['f1']:.3f}, accuracy {m['accuracy']:.4f};"
            f" estimated spam share {estimated} (true {priors.get('true_target', {}).get('spam')})"
        )


if __name__ == "__main__":
    main()
