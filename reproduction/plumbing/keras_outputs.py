"""Keras-format outputs a run can leave behind: a compiled `.keras` model (--save-model) and
TensorBoard event files of its per-epoch figures (--tensorboard).

Both are written after training, from what every engine returns (final weights, per-epoch
histories), so the fit and the compiled engines write the same things in the same format, and
a run that fails or is interrupted writes neither.

TensorBoard: the tags and folders are those of Keras's `TensorBoard` callback (`epoch_loss`,
`epoch_accuracy`, `epoch_learning_rate` in `train/`, `epoch_loss`, `epoch_accuracy` in
`validation/`, step = epoch - 1), so these logs and a Keras callback's sit in one TensorBoard.
The callback itself is not used: `tf.summary.scalar` (which it calls) lives in the tensorboard
package, not a dependency here; `tf.summary.write` with the scalars plugin's metadata, as that
function writes it, needs only TensorFlow.
"""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from reproduction.plumbing.atomic import atomic_path, interrupts_held, note_written
from reproduction.plumbing.backend import tf

EVENT_FILES = "events.out.tfevents.*"  # how TensorFlow's summary writers name their files


def save_model(model, path):
    """Save `model` (compiled, so a loaded copy can evaluate) to `path`, atomically. Its
    optimizer is built first: its (fresh) state is then saved too, and loading it does not warn
    that the saved optimizer has no variables."""
    if model.optimizer is None:
        raise ValueError("compile the model before saving it: a loaded copy could not evaluate")
    model.optimizer.build(model.trainable_variables)
    with atomic_path(path, suffix=".keras") as tmp:  # Keras insists on the extension
        model.save(tmp)


def _scalar_metadata():
    """What TensorBoard's scalar summary attaches to each value: the scalars plugin (its empty
    plugin data, version 0) and the scalar data class."""
    from tensorflow.core.framework import (
        summary_pb2,  # after reproduction.plumbing.backend: quiet import
    )

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR,
    )


def epoch_scalars(history, learning_rate):
    """{sub-folder: {tag: per-epoch values}} of a TrainingHistory-like `history` (lists loss,
    accuracy, val_loss, val_accuracy), named as Keras's TensorBoard callback names them."""
    scalars = {
        "train": {
            "epoch_loss": list(history.loss),
            "epoch_accuracy": list(history.accuracy),
            "epoch_learning_rate": [learning_rate] * len(history.loss),
        }
    }
    if len(history.val_loss):
        scalars["validation"] = {
            "epoch_loss": list(history.val_loss),
            "epoch_accuracy": list(history.val_accuracy),
        }
    return scalars


def _write_scalars(folder, tags):
    metadata = _scalar_metadata()
    writer = tf.summary.create_file_writer(str(folder))
    try:
        with writer.as_default():
            for tag, values in tags.items():
                for epoch, value in enumerate(values):
                    tf.summary.write(
                        tag, tf.constant(value, tf.float32), step=epoch, metadata=metadata
                    )
    finally:
        writer.close()


def _folder_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


def _publish(staging, log_dir):
    """Move the event files under `staging` to the same places under `log_dir`. A new log_dir
    is one rename; into an existing one, each folder written gets this run's file in place of
    the event files it held (an earlier run's curves), and nothing else there is touched."""
    if not log_dir.exists():
        staging.chmod(_folder_mode())  # mkdtemp's folder is private; the logs are not
        staging.rename(log_dir)
        return
    moves = [
        (source, log_dir / source.relative_to(staging))
        for source in sorted(staging.rglob(EVENT_FILES))
    ]
    for folder in {target.parent for _, target in moves}:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(EVENT_FILES):
            old.unlink()
    for source, target in moves:
        os.replace(source, target)


def write_tensorboard_logs(log_dir, histories, learning_rate):
    """Write each run's per-epoch figures as TensorBoard scalars: `histories` maps a sub-folder
    of `log_dir` ("" for log_dir itself) to a TrainingHistory-like object; its figures go to
    <sub-folder>/train and, if it has validation figures, <sub-folder>/validation.

    Everything is written to a temporary folder beside log_dir first and moved into place only
    when complete, with Ctrl-C held back for the move: an interrupted or failed write leaves
    no event file behind. Returns log_dir."""
    log_dir = Path(log_dir)
    staging = None
    try:
        with interrupts_held():
            log_dir.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{log_dir.name}.", dir=log_dir.parent))
        for name, history in histories.items():
            for folder, tags in epoch_scalars(history, learning_rate).items():
                _write_scalars(staging / name / folder, tags)
        with interrupts_held():
            _publish(staging, log_dir)
            note_written(log_dir)
    finally:
        if staging is not None:
            with interrupts_held(), contextlib.suppress(FileNotFoundError):
                shutil.rmtree(staging)
    return log_dir


def save_keras_outputs(models, tensorboard, histories, learning_rate):
    """--save-model and --tensorboard after a run: each of `models` ({path: compiled model})
    saved, and `histories` ({sub-folder: TrainingHistory}) as TensorBoard logs under
    `tensorboard` (None: not asked for); one line each says what was written."""
    for path, model in models.items():
        save_model(model, path)
    if models:
        print("model: " + ", ".join(map(str, models)))
    if tensorboard is not None:
        write_tensorboard_logs(tensorboard, histories, learning_rate)
        print(f"TensorBoard logs: {tensorboard} (tensorboard --logdir {tensorboard})")
