"""The Keras download: the last resort for a dataset found nowhere locally (data/lookup.py).

Its arrays are checked as a local copy's are (data/checks.py). With no network the error says
where it looked, why the download failed and how to point at a copy.
"""

import hashlib
import re
import urllib.error

from reproduction.data.checks import (
    DataError,
    Dataset,
    NotEnoughMemory,
    _aligned_copy,
    _check_counts,
    _checked,
    _one_line,
)
from reproduction.data.lookup import DATA_DIR_ENV, keras_cache_dir, search_dirs


def _download(name):
    """(x_train, y_train), (x_test, y_test) from keras.datasets.<name>.load_data()."""
    from reproduction.plumbing.backend import keras

    return getattr(keras.datasets, name).load_data()


def _causes(error):
    """`error` and the exceptions it was raised from or while handling, outermost first."""
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


# Keras turns urllib's errors into Exception("URL fetch failure on URL: CODE -- REASON").
_KERAS_FETCH_FAILURE = re.compile(r"URL fetch failure on \S+: (\S+) -- (.*)", re.DOTALL)


def download_failure_reason(error):
    """Why a Keras download failed, in a few words on one line: "no network: <class>:
    <message>" when no connection could be made, "the server answered HTTP <code> <reason>"
    when it refused, else the exception's class and message."""
    for cause in _causes(error):
        if isinstance(cause, urllib.error.HTTPError):  # a URLError too: checked first
            return _one_line(f"the server answered HTTP {cause.code} {cause.msg}")
        if isinstance(cause, urllib.error.URLError):
            reason = cause.reason  # often the socket error itself (name resolution, refused)
            if isinstance(reason, BaseException):
                return _one_line(f"no network: {type(reason).__name__}: {reason}")
            return _one_line(f"no network: {type(cause).__name__}: {reason}")
        if isinstance(cause, (ConnectionError, TimeoutError)):
            return _one_line(f"no network: {type(cause).__name__}: {cause}")
    fetch_failure = _KERAS_FETCH_FAILURE.search(str(error))
    if fetch_failure:  # the urllib error itself was not kept: read Keras's message
        code, reason = fetch_failure.groups()
        if code.isdigit():
            return _one_line(f"the server answered HTTP {code} {reason}")
        return _one_line(f"no network: {reason}")
    if "URL fetch failure" in str(error):
        return _one_line(f"no network: {type(error).__name__}: {error}")
    return _one_line(f"{type(error).__name__}: {error}")


def _hash_file(path):
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _downloaded_files(name):
    """{name relative to Keras's cache: sha256 hex} of the files a Keras download of `name`
    left in the cache (those that are there). Keras read them, not this module, so these are
    hashed by a second read: the one place that costs one, once per download."""
    # Imported here, not above: registry.py imports the loaders, which import this module.
    from reproduction.data.registry import DATASETS

    cache = keras_cache_dir()
    files = {}
    for relative in DATASETS[name].cache_files:
        if (cache / relative).is_file():
            files[relative] = _hash_file(cache / relative)
    return files


def _downloaded(name, title, data_dir, holding, class_names, image_shape, expected_counts):
    """The Keras download of a dataset found nowhere locally, checked like a local copy;
    DataError with the places searched and why the download failed (offline, say)."""
    try:
        (x_train, y_train), (x_test, y_test) = _download(name)
    except MemoryError:
        raise NotEnoughMemory(
            f"keras download ({name}): not enough memory to load {title}"
        ) from None
    except Exception as error:  # Keras raises bare Exceptions for network failures
        looked = ", ".join(str(d) for d in search_dirs(data_dir))
        raise DataError(
            f"{title} not found (looked in {looked}) and the download failed "
            f"({download_failure_reason(error)}); point --data-dir (or ${DATA_DIR_ENV}) at a "
            f"folder holding {holding}"
        ) from None
    source = f"keras download ({name})"
    x_train, y_train = _checked(source, x_train, y_train.reshape(-1), image_shape)
    x_test, y_test = _checked(source, x_test, y_test.reshape(-1), image_shape)
    _check_counts(source, len(y_train), len(y_test), expected_counts)
    try:
        files = _downloaded_files(name)
    except OSError:  # the arrays are fine; a cache file that cannot be reread only goes unnamed
        files = {}
    return Dataset(
        _aligned_copy(x_train), y_train, x_test, y_test, class_names, source, files=files
    )
