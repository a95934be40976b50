"""Domain adaptation: a labelled source, an unlabelled target whose inputs look different.

This package owns the methods and the evidence: the feature-level methods (through skada
and POT) and their registry (`_methods`), choosing one without target labels (`_select`),
folding the chosen pipeline into an ordinary linear head (`_fold`), label-shift
estimation and correction (`_label_shift`), and how far apart the domains are
(`_distance`). The job that reads, embeds and writes the run is `transferkit.jobs._adapt`
(`transferkit.adapt`); the package is called `adaptation` so that `transferkit.adapt`
stays the function, as `transferkit.fit` is.
"""

from transferkit.adaptation._methods import METHODS, Method, auto_methods, get_method

__all__ = ["METHODS", "Method", "auto_methods", "get_method"]
