"""Measuring a run: classification metrics, cross-validation of a head on cached
features with out-of-fold scores, and the raw-input baseline (a logistic regression on
pixels, TF-IDF or encoded columns) that says whether transfer pays off."""
