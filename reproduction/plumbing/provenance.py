"""The machine a run ran on, for run records: the CPU (model, cores, vector extensions) and the
GPUs TensorFlow sees.

The vector extensions matter for reproduction: TensorFlow's kernels take different code paths
(and so round differently) with AVX2, FMA or AVX-512, so two runs of the same seed on different
CPUs can differ in their last digits.

This module never imports TensorFlow: a record of an XOR run or a test must not pay for it.
"""

import os
import platform
import subprocess
import sys

# The extensions recorded, in this order, as /proc/cpuinfo spells them (x86 "flags", ARM
# "Features": 32-bit ARM says neon, 64-bit ARM asimd).
VECTOR_EXTENSIONS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "amx_tile",
    "neon",
    "asimd",
)
_AVX512_PARTS = (("avx512f", "F"), ("avx512bw", "BW"), ("avx512vl", "VL"), ("avx512_vnni", "VNNI"))
# macOS spells some Intel features its own way (sysctl machdep.cpu.*features).
_DARWIN_NAMES = {"sse4.2": "sse4_2", "avx1.0": "avx", "avx512vnni": "avx512_vnni"}


def parse_cpuinfo(text):
    """(model name or None, set of lower-case feature flags) from /proc/cpuinfo's text; the
    first processor's entry speaks for all (they are the same CPU)."""
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and model is None:
            model = value.strip() or None
        elif key in ("flags", "features") and not flags:
            flags = set(value.lower().split())
    return model, flags


def _sysctl(name):
    """`sysctl -n name` (macOS), or None when it is not there."""
    try:
        finished = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if finished.returncode != 0:
        return None
    return finished.stdout.strip() or None


def _darwin_cpu():
    """(model, flags) on macOS, where there is no /proc/cpuinfo."""
    model = _sysctl("machdep.cpu.brand_string")
    words = (
        " ".join(
            filter(None, (_sysctl("machdep.cpu.features"), _sysctl("machdep.cpu.leaf7_features")))
        )
        .lower()
        .split()
    )
    flags = {_DARWIN_NAMES.get(word, word) for word in words}
    if platform.machine() == "arm64":
        flags.add("asimd")  # Advanced SIMD is part of every 64-bit ARM CPU
    return model, flags


def cpu_description(cpuinfo_path="/proc/cpuinfo"):
    """{"model": str ("unknown" when nothing says), "architecture": str (platform.machine()),
    "logical_cores": int, "usable_cores": int (those this process may run on),
    "vector_extensions": [the VECTOR_EXTENSIONS present, in that order]}."""
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as stream:
            model, flags = parse_cpuinfo(stream.read())
    except OSError:
        model, flags = None, set()
    if sys.platform == "darwin" and not (model and flags):
        model, flags = _darwin_cpu()
    logical = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        usable = logical
    return {
        "model": model or platform.processor() or "unknown",
        "architecture": platform.machine() or "unknown",
        "logical_cores": logical,
        "usable_cores": usable,
        "vector_extensions": [name for name in VECTOR_EXTENSIONS if name in flags],
    }


def _vector_text(description):
    """The extensions in a reader's words, e.g. "AVX2, FMA, no AVX-512"."""
    present = set(description.get("vector_extensions", ()))
    if present & {"neon", "asimd"}:
        return "NEON"
    arch = description.get("architecture", "").lower()
    if not present and arch not in ("x86_64", "amd64", "i386", "i686"):
        return "vector extensions unknown"
    words = []
    if "avx2" in present:
        words.append("AVX2")
    elif "avx" in present:
        words.append("AVX, no AVX2")
    elif "sse4_2" in present:
        words.append("SSE4.2, no AVX")
    else:
        words.append("no AVX")
    if "fma" in present:
        words.append("FMA")
    if "avx512f" in present:
        words.append(
            "AVX-512 " + "/".join(short for flag, short in _AVX512_PARTS if flag in present)
        )
    else:
        words.append("no AVX-512")
    if "amx_tile" in present:
        words.append("AMX")
    return ", ".join(words)


def cpu_text(description):
    """One line from cpu_description()'s dict, e.g. "AMD EPYC (2 cores; AVX2, FMA, no
    AVX-512)"; cores this process may not use are said ("8 cores, 2 usable")."""
    cores = description.get("logical_cores")
    usable = description.get("usable_cores", cores)
    core_text = f"{cores} core{'s' * (cores != 1)}"
    if usable is not None and usable != cores:
        core_text += f", {usable} usable"
    return f"{description.get('model', 'unknown')} ({core_text}; {_vector_text(description)})"


def gpu_description():
    """[names of the GPUs TensorFlow sees], [] when TensorFlow has not been imported (it is
    never imported here: a run that did not use it has no GPU to report) or sees none."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return []
    try:
        devices = tf.config.list_physical_devices("GPU")
    except Exception:  # a half-imported or broken TensorFlow: no GPU worth naming
        return []
    names = []
    for device in devices:
        try:  # the card's name ("NVIDIA A100-SXM4-40GB") when TensorFlow knows it
            details = tf.config.experimental.get_device_details(device)
        except Exception:
            details = {}
        names.append(str(details.get("device_name") or device.name))
    return names


def machine_description():
    """{"cpu": cpu_description(), "gpus": gpu_description()}: a run record's "machine"."""
    return {"cpu": cpu_description(), "gpus": gpu_description()}
