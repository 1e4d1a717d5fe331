"""Shared pieces of the three tutorial reproductions: one small module per concern.

Importing this package first pins the Keras backend to TensorFlow and turns down TensorFlow's
C++ start-up chatter, which must happen before TensorFlow or Keras is imported.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
