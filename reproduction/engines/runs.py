"""What every engine returns: `Runs`, per-run arrays with one row per run (a single run is a study
of one), and how they are kept: a run's arrays are its results, saved beside its JSON record.

Two engines train every tutorial:
- "fit": the tutorial's own spelling, `model.fit` once per run (engines/keras_fit.py);
- "compiled": this project's fast path for the same experiment: compiled TensorFlow graphs, and
  in a seed study the runs stacked into one computation where that is faster (one module per
  kind of network: xor_networks, neurons, dense_networks, keras_model).
A plain single run uses model.fit; a study (--seeds N > 1) the compiled engine.
"""

from dataclasses import dataclass, field, fields

import numpy as np


def network(params, index):
    """The weights of network `index` out of a stack (each array with a leading run axis)."""
    return [p[index] for p in params]


@dataclass
class TrainingHistory:
    """Per-epoch figures as `model.fit` reports them (training ones averaged over the epoch)."""

    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)  # training only, validation excluded

    @property
    def train_seconds(self):
        return float(sum(self.epoch_seconds))


@dataclass
class Runs:
    """What an engine returns for N runs. Histories are (N, epochs) as model.fit reports them
    (training figures averaged over the epoch; validation after it)."""

    weight_seeds: np.ndarray  # (N,) the seed of each run's initial weights
    data_seeds: np.ndarray | None  # (N,) the seed of each run's data order (None: full batch)
    loss: np.ndarray
    accuracy: np.ndarray
    params: list | None  # final weights, each array with a leading run axis (None: not kept)
    train_seconds: float  # training alone (not tracing, not validation where separable)
    compile_seconds: float = 0.0  # graph tracing and warm-up, outside train_seconds
    val_loss: np.ndarray | None = None
    val_accuracy: np.ndarray | None = None
    test_outputs: np.ndarray | None = None  # (N, test examples[, outputs])
    extra: dict = field(default_factory=dict)  # engine-specific per-run arrays and numbers

    def __len__(self):
        return len(self.weight_seeds)

    def run(self, index):
        """The final weights of run `index`."""
        return network(self.params, index)

    def history(self, index=0):
        """Run `index`'s per-epoch figures as a TrainingHistory, up to its last epoch trained
        (a run stopped early has NaN after it)."""
        trained = np.flatnonzero(~np.isnan(self.loss[index]))
        epochs = int(trained[-1]) + 1 if len(trained) else 0

        def first(values):
            return [] if values is None else [float(v) for v in values[index][:epochs]]

        seconds = self.extra.get("epoch_seconds")
        return TrainingHistory(
            loss=first(self.loss),
            accuracy=first(self.accuracy),
            val_loss=first(self.val_loss),
            val_accuracy=first(self.val_accuracy),
            epoch_seconds=first(seconds),
        )

    def arrays(self, prefix=""):
        """{name: array} of everything in these runs, for an .npz (see from_arrays)."""
        out = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "params":
                out |= {f"{prefix}params.{i}": p for i, p in enumerate(value or [])}
            elif item.name == "extra":
                out |= {f"{prefix}extra.{k}": np.asarray(v) for k, v in value.items()}
            elif value is not None:
                out[f"{prefix}{item.name}"] = np.asarray(value)
        return out

    @classmethod
    def from_arrays(cls, arrays, prefix=""):
        """The Runs whose arrays(prefix) gave `arrays` (a dict or an opened .npz)."""
        mine = {k[len(prefix) :]: arrays[k] for k in arrays if k.startswith(prefix)}
        params = [mine[f"params.{i}"] for i in range(sum(k.startswith("params.") for k in mine))]
        extra = {
            k.removeprefix("extra."): (v.item() if v.ndim == 0 else v)
            for k, v in mine.items()
            if k.startswith("extra.")
        }
        kept = {
            item.name: mine[item.name]
            for item in fields(cls)
            if item.name in mine and item.name not in ("params", "extra")
        }
        for name in ("train_seconds", "compile_seconds"):
            kept[name] = float(kept.get(name, 0.0))
        kept.setdefault("data_seeds", None)
        return cls(params=params or None, extra=extra, **kept)


@dataclass
class OneRun:
    """What one run of a per-run engine (model.fit, the CNN's compiled trainer) gives back."""

    history: TrainingHistory
    weights: list  # the final weights, as the engines' params keep them
    test_outputs: np.ndarray | None = None  # the model's outputs on the test images
    test_loss: float | None = None  # model.evaluate's
    test_accuracy: float | None = None


def stacked_runs(done, weight_seeds, data_seeds, epochs):
    """The Runs of OneRuns `done`, in order: histories (N, epochs), NaN after a run that stopped
    early (a non-finite loss); extra holds per-run train_seconds and epoch_seconds and, where
    the runs were evaluated, test_loss and test_accuracy."""

    def table(key, dtype=np.float32):
        values = np.full((len(done), epochs), np.nan, dtype)
        for row, fitted in enumerate(done):
            history = getattr(fitted.history, key)
            values[row, : len(history)] = history
        return values

    validated = any(fitted.history.val_loss for fitted in done)
    extra = {
        "train_seconds": np.array([fitted.history.train_seconds for fitted in done]),
        "epoch_seconds": table("epoch_seconds", np.float64),
    }
    if done[0].test_loss is not None:
        extra["test_loss"] = np.array([fitted.test_loss for fitted in done])
        extra["test_accuracy"] = np.array([fitted.test_accuracy for fitted in done])
    outputs = [fitted.test_outputs for fitted in done]
    return Runs(
        weight_seeds=weight_seeds,
        data_seeds=None if data_seeds is None else np.asarray(data_seeds),
        loss=table("loss"),
        accuracy=table("accuracy"),
        val_loss=table("val_loss") if validated else None,
        val_accuracy=table("val_accuracy") if validated else None,
        params=[np.stack(p) for p in zip(*(fitted.weights for fitted in done), strict=True)],
        train_seconds=float(extra["train_seconds"].sum()),
        test_outputs=None if outputs[0] is None else np.stack(outputs),
        extra=extra,
    )
