"""Device choice (--device auto|cpu|gpu) and a one-line report of the device actually used."""

import os

from reproduction.plumbing.backend import startup_noise_filtered, tf


class DeviceError(Exception):
    """The requested device cannot be used (a usage error: exit code 2)."""


def select_device(choice):
    """Make TensorFlow use `choice` and return a short description of the device in use.

    Must run before the first TensorFlow operation: visible devices cannot change afterwards.
    Asking for a GPU where none is visible is an error, never a silent fall-back to the CPU.
    """
    if choice not in ("auto", "cpu", "gpu"):
        raise DeviceError(f"unknown device {choice!r} (choose auto, cpu or gpu)")
    with startup_noise_filtered():
        gpus = tf.config.list_physical_devices("GPU")
    if choice == "gpu" and not gpus:
        raise DeviceError("--device gpu: TensorFlow sees no GPU on this machine (use --device cpu)")
    if choice == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")
    if choice != "cpu" and gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        name = details.get("device_name", gpus[0].name)
        more = f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else ""
        return f"GPU: {name}{more}"
    return f"CPU ({os.cpu_count()} cores)"


def select_device_or_exit(parser, choice):
    """select_device, with a device that cannot be used reported as a usage error (exit 2)."""
    try:
        return select_device(choice)
    except DeviceError as error:
        parser.error(str(error))
