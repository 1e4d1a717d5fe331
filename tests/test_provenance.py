"""plumbing/provenance.py and the run record's "machine" and "data_files": the CPU's model, cores
and vector extensions (parsed from /proc/cpuinfo text of x86 and ARM machines), its one-line
form, the GPUs TensorFlow sees (never importing TensorFlow), and both fields in every record."""

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from reproduction.plumbing import provenance
from reproduction.plumbing.provenance import (
    cpu_description,
    cpu_text,
    gpu_description,
    parse_cpuinfo,
)
from reproduction.plumbing.records import build_run_record, save_run_record

ROOT = Path(__file__).resolve().parent.parent

XEON = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma avx512f avx512dq avx512bw avx512vl \
avx512_vnni amx_bf16 amx_tile amx_int8

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse sse2
"""
# 64-bit ARM: no "model name", the extensions under "Features".
GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid
CPU implementer\t: 0x41
"""
OLD_X86 = "model name\t: Intel(R) Core(TM)2 Duo\nflags\t\t: fpu sse sse2 ssse3 sse4_1\n"


def test_parse_cpuinfo_reads_the_first_processor():
    model, flags = parse_cpuinfo(XEON)
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"avx512f", "amx_tile", "sse4_2"} <= flags  # the first entry's, not the second's
    model, flags = parse_cpuinfo(GRAVITON)
    assert model is None and "asimd" in flags


@pytest.mark.parametrize(
    "text, model, extensions, vector_text",
    [
        (
            XEON,
            "Intel(R) Xeon(R) Platinum 8480+",
            [
                "sse4_2",
                "avx",
                "avx2",
                "fma",
                "avx512f",
                "avx512bw",
                "avx512vl",
                "avx512_vnni",
                "amx_tile",
            ],
            "AVX2, FMA, AVX-512 F/BW/VL/VNNI, AMX",
        ),
        (GRAVITON, "unknown", ["asimd"], "NEON"),
        (OLD_X86, "Intel(R) Core(TM)2 Duo", [], "no AVX, no AVX-512"),
    ],
)
def test_cpu_description_from_cpuinfo(tmp_path, monkeypatch, text, model, extensions, vector_text):
    monkeypatch.setattr(provenance.sys, "platform", "linux")  # no sysctl fallback
    monkeypatch.setattr(provenance.platform, "processor", lambda: "")  # no fallback name
    monkeypatch.setattr(
        provenance.platform, "machine", lambda: "aarch64" if text is GRAVITON else "x86_64"
    )
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    description = cpu_description(path)
    assert description["model"] == model
    assert description["vector_extensions"] == extensions  # the fixed list's order
    assert description["logical_cores"] == os.cpu_count()
    assert cpu_text(description).startswith(f"{model} ({os.cpu_count()} core")
    assert cpu_text(description).endswith(f"; {vector_text})")


def test_cpu_text_reads_like_the_brief():
    description = {
        "model": "AMD EPYC",
        "architecture": "x86_64",
        "logical_cores": 2,
        "usable_cores": 2,
        "vector_extensions": ["sse4_2", "avx", "avx2", "fma"],
    }
    assert cpu_text(description) == "AMD EPYC (2 cores; AVX2, FMA, no AVX-512)"
    assert cpu_text({**description, "usable_cores": 1}) == (
        "AMD EPYC (2 cores, 1 usable; AVX2, FMA, no AVX-512)"
    )
    assert (
        cpu_text(
            {
                "model": "unknown",
                "architecture": "riscv64",
                "logical_cores": 1,
                "vector_extensions": [],
            }
        )
        == "unknown (1 core; vector extensions unknown)"
    )


def test_missing_cpuinfo_falls_back(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance.sys, "platform", "linux")
    monkeypatch.setattr(provenance.platform, "processor", lambda: "x86_64")
    description = cpu_description(tmp_path / "no-cpuinfo")
    assert description["model"] == "x86_64" and description["vector_extensions"] == []
    monkeypatch.setattr(provenance.platform, "processor", lambda: "")
    assert cpu_description(tmp_path / "no-cpuinfo")["model"] == "unknown"


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="needs Linux's /proc/cpuinfo")
def test_this_machine():
    description = cpu_description()
    names = [
        line.partition(":")[2].strip()
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("model name")
    ]
    if names:
        assert description["model"] == names[0]
    assert 1 <= description["usable_cores"] <= description["logical_cores"] == os.cpu_count()
    assert set(description["vector_extensions"]) <= set(provenance.VECTOR_EXTENSIONS)
    assert "\n" not in cpu_text(description)


def test_gpus_and_records_never_import_tensorflow():
    code = (
        "import sys\n"
        "from reproduction.plumbing.provenance import gpu_description\n"
        "from reproduction.plumbing.records import build_run_record\n"
        "assert gpu_description() == []\n"
        "build_run_record(script='x.py', config={}, device='CPU', timings={}, metrics={})\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr


def test_gpus_named_as_tensorflow_sees_them(monkeypatch):
    devices = [
        types.SimpleNamespace(name="/physical_device:GPU:0"),
        types.SimpleNamespace(name="/physical_device:GPU:1"),
    ]
    details = {
        "/physical_device:GPU:0": {"device_name": "NVIDIA T4"},
        "/physical_device:GPU:1": {},
    }  # no card name known: the device's name
    fake_tf = types.SimpleNamespace(
        config=types.SimpleNamespace(
            list_physical_devices=lambda kind: devices if kind == "GPU" else [],
            experimental=types.SimpleNamespace(get_device_details=lambda d: details[d.name]),
        )
    )
    monkeypatch.setitem(sys.modules, "tensorflow", fake_tf)
    assert gpu_description() == ["NVIDIA T4", "/physical_device:GPU:1"]

    def broken(kind):
        raise RuntimeError("half imported")

    fake_tf.config.list_physical_devices = broken
    assert gpu_description() == []


def test_every_record_has_machine_and_data_files(tmp_path, capsys):
    fields = dict(script="x.py", argv=[], config={}, device="CPU", timings={}, metrics={})
    record = build_run_record(**fields)
    assert record["data_files"] == {}
    assert record["machine"]["cpu"] == cpu_description()
    assert isinstance(record["machine"]["gpus"], list)
    files = {"mnist.npz": "ab" * 32, "/elsewhere/test_batch": "cd" * 32}
    path = tmp_path / "run.json"
    save_run_record(path, **fields, data_files=files)  # forwarded by the scripts' --json
    assert f"run record: {path}" in capsys.readouterr().out
    saved = json.loads(path.read_text())
    assert saved["data_files"] == files
    assert saved["machine"]["cpu"]["logical_cores"] == os.cpu_count()
