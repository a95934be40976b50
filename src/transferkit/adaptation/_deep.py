"""Deep domain adaptation over cached features: domain confusion on Lightning.

A small adapter network (the MLP head `fit` saves: standardisation, a hidden layer, a
linear classifier) is trained on mixed batches, one class-balanced batch of labelled
source features and one of unlabelled target features per step, with the source's
cross-entropy plus a domain loss on the hidden layer:

- `dann` (Ganin et al. 2016): a domain discriminator behind a gradient-reversal layer;
  the reversal's weight follows the paper's schedule, lambda_p = 2 / (1 + exp(-10 p)) - 1
  over the share p of training done, and so does the rate, lr / (1 + 10 p) ** 0.75.
- `cdan+e` (Long et al. 2018): the discriminator sees the features conditioned on the
  class probabilities (their outer product, or its randomised multilinear map past 4,096
  dimensions), each sample weighted by 1 + exp(-entropy) of its prediction.
- `mcc` (Jin et al. 2020): minimum class confusion of the target's predictions.
- `dan` (Long et al. 2015): the multi-kernel MMD between the domains' hidden features.

The MMD, MCC and gradient-reversal pieces are skada's (`skada.deep`); the training loop is
Lightning's, with the fine-tuning engine's atomic checkpoints and per-epoch seeding, so
an interrupted run resumes from its last epoch. The estimator is a scikit-learn one, so
skada's scorers (and circular validation's refit) treat it as any other method.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

DEEP_METHODS = ("dann", "cdan+e", "mcc", "dan")

# where the adapter being fitted checkpoints: (run folder, name, resume) or None
_CHECKPOINT: ContextVar[tuple[Path, str, bool] | None] = ContextVar("checkpoint", default=None)
# a network already trained (on the backbone's top groups), for the adapter to take as is
_PREFIT: ContextVar[Any] = ContextVar("prefit", default=None)


@contextmanager
def checkpointing(run_dir: Path, name: str, resume: bool) -> Iterator[None]:
    """Adapters fitted inside checkpoint every epoch to `run_dir/checkpoints/NAME-last.ckpt`
    (and resume from it with `resume`). A context, not a parameter: skada fits a clone of
    the estimator, and circular validation refits another, which must never write there."""
    token = _CHECKPOINT.set((Path(run_dir), name, resume))
    try:
        yield
    finally:
        _CHECKPOINT.reset(token)


@contextmanager
def prefitted(head: Any) -> Iterator[None]:
    """The adapter fitted inside takes `head` (trained with the backbone's top layer
    groups) instead of training one; a later refit (circular validation's) trains."""
    token = _PREFIT.set(head)
    try:
        yield
    finally:
        _PREFIT.reset(token)


def checkpoint_name(method: str, seed: int) -> str:
    """The checkpoint's stem for `method` trained with `seed` (`cdan+e` -> `cdan-e-seed0`)."""
    return f"{method.replace('+', '-')}-seed{seed}"


def deep_adapter_class() -> type:
    """The scikit-learn estimator (built on demand: torch and Lightning load with it)."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class DeepAdapter(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
        """An adapter network trained with a domain loss; `fit(x, y, sample_domain)` reads
        source rows (sample_domain >= 0, labelled) and target rows (< 0, labels unread).

        Where to checkpoint is set with `checkpointing(...)`, not a parameter, so a clone
        (circular validation refits one) never writes over the run's checkpoints."""

        def __init__(
            self,
            method: str = "dann",
            n_classes: int = 2,
            seed: int = 0,
            hidden: int = 256,
            epochs: int = 0,  # 0: enough epochs for about 600 steps (20 to 100)
            batch_size: int = 64,
            lr: float = 1e-3,
            tradeoff: float = 1.0,
        ) -> None:
            self.method = method
            self.n_classes = n_classes
            self.seed = seed
            self.hidden = hidden
            self.epochs = epochs
            self.batch_size = batch_size
            self.lr = lr
            self.tradeoff = tradeoff

        def fit(self, x: Any, y: Any, sample_domain: Any = None) -> DeepAdapter:
            x = np.asarray(x, dtype=np.float32)
            y = np.asarray(y)
            if sample_domain is None:
                raise ValueError("the deep adapters need sample_domain (source >= 0, target < 0)")
            source = np.asarray(sample_domain) >= 0
            self.classes_ = np.arange(self.n_classes)
            if _PREFIT.get() is not None:
                self.head_ = _PREFIT.get()
                _PREFIT.set(None)
                return self
            self.head_ = train_adapter(
                self,
                x[source],
                y[source].astype(np.int64),
                x[~source],
                _CHECKPOINT.get(),
            )
            _CHECKPOINT.set(None)  # one adapter per context: a later refit never writes
            self.classes_ = np.arange(self.n_classes)
            return self

        def decision_function(self, x: Any) -> np.ndarray:
            import torch

            self.head_.eval()
            with torch.inference_mode():
                logits = self.head_(torch.as_tensor(np.asarray(x), dtype=torch.float32))
            return np.asarray(logits.double().numpy())

        def predict_proba(self, x: Any) -> np.ndarray:
            z = self.decision_function(x)
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            return np.asarray(e / e.sum(axis=1, keepdims=True))

        def predict(self, x: Any) -> np.ndarray:
            return np.asarray(self.decision_function(x).argmax(axis=1))

        def embed(self, x: Any) -> np.ndarray:
            """The hidden layer's features (where the domain loss acts)."""
            import torch

            self.head_.eval()
            with torch.inference_mode():
                t = torch.as_tensor(np.asarray(x), dtype=torch.float32)
                return np.asarray(hidden_features(self.head_, t).double().numpy())

    return DeepAdapter


def hidden_features(head: Any, x: Any) -> Any:
    """The head's hidden layer: standardisation, dropout, linear, ReLU."""
    from transferkit.adaptation._domain_loss import hidden_features as hidden

    return hidden(head, x)


def ganin_lambda(progress: float) -> float:
    """The gradient-reversal weight of Ganin et al. (2016): 0 at the start, towards 1."""
    from transferkit.adaptation._domain_loss import ganin_lambda as weight

    return weight(progress)


def gradient_reversal(x: Any, weight: float) -> Any:
    """Identity forward; the gradient times -weight backward (skada's layer)."""
    from transferkit.adaptation._domain_loss import gradient_reversal as reversal

    return reversal(x, weight)


def module_class() -> type:
    import lightning.pytorch as pl
    import torch

    from transferkit.adaptation._domain_loss import DomainLoss, annealed_rate

    class AdapterModule(pl.LightningModule):
        """The adapter head, and the method's domain loss (with its discriminator)."""

        def __init__(
            self, head: Any, method: str, tradeoff: float, lr: float, total_steps: int, seed: int
        ) -> None:
            super().__init__()
            self.head, self.lr, self.total_steps = head, lr, max(1, total_steps)
            self.domain = DomainLoss(method, head.hidden, head.n_classes, tradeoff, seed)

        def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
            xs, ys = batch["source"]
            progress = min(1.0, self.global_step / self.total_steps)
            return self.domain.step(self, xs, batch["target"][0], ys, progress)

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=1e-2)
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, annealed_rate(self.total_steps)
            )
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
            }

    return AdapterModule


def train_adapter(
    settings: Any,
    xs: np.ndarray,
    ys: np.ndarray,
    xt: np.ndarray,
    checkpoint: tuple[Path, str, bool] | None,
) -> Any:
    """Train the adapter head of `settings` (a DeepAdapter) on source (xs, ys) and target
    xt; with `checkpoint` (run folder, name, resume), checkpoint every epoch and resume."""
    import torch
    from torch.utils.data import TensorDataset

    from transferkit.finetune._train import balanced_sample_weights, quiet_lightning

    if settings.method not in DEEP_METHODS:
        raise ValueError(f"unknown deep method {settings.method!r}")
    quiet_lightning()
    batch = int(min(settings.batch_size, len(xs), len(xt)))
    steps_per_epoch = max(math.ceil(len(xs) / batch), math.ceil(len(xt) / batch))
    epochs = settings.epochs or int(np.clip(math.ceil(600 / steps_per_epoch), 20, 100))
    head = adapter_head(np.vstack([xs, xt]), settings.n_classes, settings.hidden, settings.seed)
    with torch.random.fork_rng():
        torch.manual_seed(settings.seed)
        module = module_class()(
            head,
            settings.method,
            settings.tradeoff,
            settings.lr,
            epochs * steps_per_epoch,
            settings.seed,
        )
    weights = balanced_sample_weights(np.unique(ys, return_inverse=True)[1])
    draws = steps_per_epoch * batch
    loaders = {
        # mixed batches: every step one batch of each domain, as many steps for both
        "source": domain_loader(
            TensorDataset(torch.from_numpy(xs), torch.from_numpy(ys)),
            DomainSampler(len(xs), draws, settings.seed, weights),
            batch,
        ),
        "target": domain_loader(
            TensorDataset(torch.from_numpy(xt)),
            DomainSampler(len(xt), draws, settings.seed + 7919),
            batch,
        ),
    }
    trainer, ckpt_path = adaptation_trainer(epochs, settings.seed, checkpoint)
    fit_quietly(trainer, module, loaders, ckpt_path)
    head.eval()
    return head


def adapter_head(pooled: np.ndarray, n_classes: int, hidden: int, seed: int) -> Any:
    """A new adapter head (`fit`'s MLP head, dropout 0.2) standardising its input with the
    mean and spread of `pooled`, both domains' features together."""
    import torch

    from transferkit.heads._heads import ClassifierHead

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        head = ClassifierHead(pooled.shape[1], n_classes, hidden, dropout=0.2)
    with torch.no_grad():
        head.get_buffer("mean").copy_(torch.from_numpy(pooled.mean(0)))
        head.get_buffer("scale").copy_(torch.from_numpy(np.maximum(pooled.std(0), 1e-6)))
    return head


def adaptation_trainer(
    epochs: int,
    seed: int,
    checkpoint: tuple[Path, str, bool] | None,
    callbacks: list[Any] | None = None,
    accelerator: str = "cpu",
    devices: Any = 1,
    precision: Any = "32-true",
    grad_clip: float | None = None,
) -> tuple[Any, Path | None]:
    """A Trainer for `epochs` of mixed batches, seeded per epoch; with `checkpoint` (run
    folder, name, resume) it saves `checkpoints/NAME-last.ckpt` every epoch (atomically,
    inside the run folder) and gives that file to resume from when asked and present."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint

    from transferkit.finetune._train import AtomicCheckpointIO, SeededEpochs, check_checkpoint
    from transferkit.runs._folder import inside

    callbacks = [*(callbacks or []), SeededEpochs(seed)]
    plugins: list[Any] = []
    ckpt_path = None
    if checkpoint is not None:
        run_dir, name, resume = checkpoint
        saver = ModelCheckpoint(
            dirpath=run_dir / "checkpoints",
            save_top_k=0,
            save_last=True,
            every_n_epochs=1,
            enable_version_counter=False,
        )
        saver.CHECKPOINT_NAME_LAST = f"{name}-last"
        callbacks.append(saver)
        plugins.append(AtomicCheckpointIO(run_dir))
        last = inside(run_dir, f"checkpoints/{name}-last.ckpt")
        if resume and last.exists():
            ckpt_path = check_checkpoint(last)
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=devices,
        precision=precision,
        gradient_clip_val=grad_clip,
        callbacks=callbacks,
        plugins=plugins,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=checkpoint is not None,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        deterministic=False,
    )
    return trainer, ckpt_path


def fit_quietly(trainer: Any, module: Any, loaders: Any, ckpt_path: Path | None) -> None:
    """`trainer.fit` without the warnings small mixed-batch runs raise by design."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
        warnings.filterwarnings("ignore", message=".*Implicit dimension choice.*")
        warnings.filterwarnings("ignore", message=".*`validation_step` but have no.*")
        # weights_only: a checkpoint is tensors and plain values, never code to unpickle
        trainer.fit(module, loaders, ckpt_path=ckpt_path, weights_only=True)


class DomainSampler:
    """`draws` indices of one domain an epoch, depending only on (seed, epoch), so a resumed
    run sees the same batches: class-balanced draws with replacement when `weights` are
    given (the labelled source), else back-to-back shuffles (the target)."""

    def __init__(self, n: int, draws: int, seed: int, weights: np.ndarray | None = None):
        self.n, self.draws, self.seed, self.epoch = n, draws, seed, 0
        self.p = None if weights is None else weights / weights.sum()

    def set_epoch(self, epoch: int) -> None:  # Lightning calls it each epoch
        self.epoch = epoch

    def __iter__(self):  # type: ignore[no-untyped-def]
        rng = np.random.default_rng((self.seed, self.epoch))
        if self.p is not None:
            return iter(rng.choice(self.n, size=self.draws, p=self.p).tolist())
        rounds = -(-self.draws // self.n)
        order = np.concatenate([rng.permutation(self.n) for _ in range(rounds)])
        return iter(order[: self.draws].tolist())

    def __len__(self) -> int:
        return self.draws


def domain_loader(dataset: Any, sampler: DomainSampler, batch: int, collate: Any = None) -> Any:
    from torch.utils.data import DataLoader

    return DataLoader(
        dataset, batch_size=batch, sampler=sampler, drop_last=True, collate_fn=collate
    )
