"""Domain-adaptation methods on cached features, one entry each, through skada and POT.

Every method is a skada pipeline ending in the same classifier (standardisation, then a
logistic regression whose C the source data chose), so methods differ only in what they
do to the domains: map the source onto the target (CORAL, a linear optimal-transport
map, an entropic optimal-transport map), project both onto aligned subspaces (subspace
alignment), weight the source samples that look like the target (kernel density ratio,
domain classifier), or add confident target pseudo-labels (self-training). On target
inputs each pipeline is a linear function of the features, which is what lets the result
be saved as an ordinary head (`transferkit.adaptation._fold`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transferkit._errors import choice_error

Builder = Callable[[float, int, int, int], Any]


@dataclass(frozen=True)
class Method:
    """A feature-level method: its name, what it does, and how to build it."""

    name: str
    summary: str
    build: Builder  # (C, seed, feature dim, classes) -> skada pipeline
    moves_features: bool  # False: the features stay, only the samples' weights change
    in_auto: bool = True  # tried by --method auto
    deep: bool = False  # a network trained with a domain loss (random: several seeds)


METHODS: dict[str, Method] = {}


def register(
    name: str, summary: str, moves_features: bool, in_auto: bool = True, deep: bool = False
) -> Callable[[Builder], Builder]:
    """Register a builder `(C, seed, dim, n_classes) -> pipeline` under `name`."""

    def wrap(build: Builder) -> Builder:
        METHODS[name] = Method(name, summary, build, moves_features, in_auto, deep)
        return build

    return wrap


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise choice_error("method", name, [*METHODS, "auto"])
    return METHODS[name]


def auto_methods() -> list[str]:
    """The methods `--method auto` fits and scores, source-only first."""
    return [name for name, method in METHODS.items() if method.in_auto]


def _classifier(c: float, seed: int, weighted: bool = False) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    if weighted:  # reweighting adapters hand the classifier their sample weights
        model.set_fit_request(sample_weight=True)
    return model


def _pipeline(*steps: Any) -> Any:
    from sklearn.preprocessing import StandardScaler

    from transferkit.adaptation._skada import skada

    return skada().make_da_pipeline(StandardScaler(), *steps)


@register("source-only", "the classifier trained on the source alone", moves_features=False)
def _source_only(c: float, seed: int, dim: int, k: int) -> Any:
    return _pipeline(_classifier(c, seed))


@register("coral", "CORAL: source features re-coloured with the target's covariance", True)
def _coral(c: float, seed: int, dim: int, k: int) -> Any:
    return _pipeline(_skada_adapter("CORALAdapter"), _classifier(c, seed))


@register("subspace", "subspace alignment: source PCA basis aligned to the target's", True)
def _subspace(c: float, seed: int, dim: int, k: int) -> Any:
    adapter = _skada_adapter(
        "SubspaceAlignmentAdapter", n_components=min(64, dim), random_state=seed
    )
    return _pipeline(adapter, _classifier(c, seed))


@register("linear-ot", "optimal-transport map between the domains' Gaussians (Monge)", True)
def _linear_ot_only(c: float, seed: int, dim: int, k: int) -> Any:
    return _pipeline(_linear_ot(), _classifier(c, seed))


@register(
    "ot",
    "entropic optimal-transport plan, source mapped to its barycentre in the target",
    moves_features=True,
    in_auto=False,  # O(n_source x n_target) memory and minutes on a few thousand samples
)
def _entropic_ot(c: float, seed: int, dim: int, k: int) -> Any:
    # the squared distances are scaled by their median (POT's norm), so reg_e means the same
    # at any feature dimension
    adapter = _skada_adapter("EntropicOTMappingAdapter", reg_e=0.1, norm="median")
    return _pipeline(adapter, _classifier(c, seed))


@register(
    "kde-reweight",
    "source samples weighted by the target/source density ratio (KDE)",
    moves_features=False,
    # kernel densities in hundreds of dimensions put the weight on a handful of samples:
    # the result collapses (0.50 on text) or flips with 1e-6 changes of the features
    in_auto=False,
)
def _kde_reweight(c: float, seed: int, dim: int, k: int) -> Any:
    return _pipeline(_skada_adapter("DensityReweightAdapter"), _classifier(c, seed, True))


@register(
    "classifier-reweight",
    "source samples weighted by a domain classifier's odds of being target",
    moves_features=False,
)
def _classifier_reweight(c: float, seed: int, dim: int, k: int) -> Any:
    adapter = _skada_adapter("DiscriminatorReweightAdapter")
    return _pipeline(adapter, _classifier(c, seed, True))


@register(
    "self-training",
    "retrained on the target's confident pseudo-labels (probability 0.9 or more)",
    moves_features=False,
)
def _self_training(c: float, seed: int, dim: int, k: int) -> Any:
    return _pipeline(_SelfTraining(c, seed))


@register(
    "coral+self-training",
    "CORAL, then self-training on the target's confident pseudo-labels",
    moves_features=True,
)
def _coral_self_training(c: float, seed: int, dim: int, k: int) -> Any:
    return _pipeline(_skada_adapter("CORALAdapter"), _SelfTraining(c, seed))


@register(
    "linear-ot+self-training",
    "the linear optimal-transport map, then self-training on the target's pseudo-labels",
    moves_features=True,
)
def _linear_ot_self_training(c: float, seed: int, dim: int, k: int) -> Any:
    return _pipeline(_linear_ot(), _SelfTraining(c, seed))


_DEEP = {
    "dann": "DANN: a domain discriminator behind gradient reversal (Ganin et al. 2016)",
    "cdan+e": "CDAN+E: the discriminator conditioned on class probabilities, entropy-weighted",
    "mcc": "MCC: minimum class confusion of the target's predictions (Jin et al. 2020)",
    "dan": "DAN: multi-kernel MMD between the domains' hidden features (Long et al. 2015)",
}


def _deep_builder(name: str) -> Builder:
    def build(c: float, seed: int, dim: int, k: int) -> Any:
        from transferkit.adaptation._deep import deep_adapter_class
        from transferkit.adaptation._skada import skada

        adapter = deep_adapter_class()(method=name, n_classes=k, seed=seed)
        # asking for `sample_domain` is what makes skada hand it the target rows too
        return skada().make_da_pipeline(adapter.set_fit_request(sample_domain=True))

    return build


for _name, _summary in _DEEP.items():
    # an adapter network over the cached features, tens of seconds a seed: asked by name
    register(_name, _summary, moves_features=True, in_auto=False, deep=True)(_deep_builder(_name))


def _self_training_class() -> type:
    from sklearn.base import BaseEstimator, ClassifierMixin

    class SelfTraining(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
        """scikit-learn's `SelfTrainingClassifier` over the logistic regression. The masked
        target labels (-1) are what it reads as unlabelled; it runs with metadata routing
        off, as it was written."""

        def __init__(self, c: float = 1.0, seed: int = 0) -> None:
            self.c = c
            self.seed = seed

        def fit(self, x: Any, y: Any, sample_domain: Any = None) -> Any:
            import sklearn
            from sklearn.semi_supervised import SelfTrainingClassifier

            with sklearn.config_context(enable_metadata_routing=False):
                model = SelfTrainingClassifier(_classifier(self.c, self.seed), threshold=0.9)
                self.model_ = model.fit(x, y)
            self.classes_ = self.model_.classes_
            return self

        def decision_function(self, x: Any) -> Any:
            return self.model_.estimator_.decision_function(x)

        def predict_proba(self, x: Any) -> Any:
            return self.model_.predict_proba(x)

        def predict(self, x: Any) -> Any:
            return self.model_.predict(x)

    return SelfTraining


def _SelfTraining(c: float, seed: int) -> Any:
    # asking for `sample_domain` is what makes skada hand it the target rows too
    return _self_training_class()(c, seed).set_fit_request(sample_domain=True)


def _linear_ot() -> Any:
    # a ridge on the standardised covariances: with 1,280 features and a few thousand
    # samples they are near-singular, and the map's matrix square roots turn NaN at
    # skada's default (1e-8); 0.1 is small beside the unit variances
    return _skada_adapter("LinearOTMappingAdapter", reg=0.1)


def _skada_adapter(name: str, **params: Any) -> Any:
    from transferkit.adaptation._skada import skada

    return getattr(skada(), name)(**params)
