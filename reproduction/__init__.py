"""The machinery behind the three tutorial scripts, one sub-package per layer:

- plumbing: command lines, exit codes, atomic writes, run records, provenance, progress, device
- data: finding, checking and safely loading the datasets
- engines: the fast engines, one module per kind of network, each `train(...) -> Runs`
- evidence: statistics, the registry of the tutorials' claims, and the rules that judge them
- studies: per tutorial, what a run or a study shows (summaries, tables, figures, report text)
- orchestration: the plan runner, the run cache, Ray, and the report writer

Importing this package imports nothing heavy. It pins the Keras backend to TensorFlow and turns
down TensorFlow's C++ start-up chatter, which must happen before TensorFlow or Keras is imported.
"""

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent  # the project folder: the scripts beside this package
