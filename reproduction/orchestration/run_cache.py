"""The run cache: every finished run of a plan, kept so that nothing finished is lost.

reproduce.py runs each script in its own process; when one finishes, its record and arrays (the
run's results: studies/ draws every figure, table and verdict from them) are stored under a key
made of the script, the settings it computes with (settings.tutorials.result_settings: every
setting that can change a number, defaults included; not where outputs go), its code version
and the sha256 of the data files it reads. The code version hashes the code that computes a
run: the script and the project modules it imports, except the views (studies/, evidence/,
orchestration/: figures, verdicts, tables and the report) and the interface (INTERFACE: the
settings' parsing and help, messages, exits, model files); it hashes their syntax, without
docstrings and comments, and of the script everything but its imports and main() (which wires
the run: what computes lives in the functions above it). So editing a figure, a rule, the
report's wording, a message, a flag's help or a docstring reuses every run; editing an engine,
a loader, the tutorial's code or a setting's value trains again.
Rerunning the same command after Ctrl-C, a crash, kill -9 or a failed run reuses every stored
run and runs only what is missing. An entry is written to a temporary folder and renamed into
place, so a run killed while it is being stored leaves no entry, never half of one.
"""

import ast
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from reproduction import ROOT
from reproduction.plumbing.atomic import interrupts_held, link_or_copy

RECORD, ARRAYS = "record.json", "arrays.npz"
# Modules that only draw views of a run's results: not part of its code version.
VIEWS = ("reproduction/studies", "reproduction/evidence", "reproduction/orchestration")
# Modules that read the command line, word messages, exit or write model files: followed for
# their imports but not hashed. The settings they parse are in the key as values instead.
INTERFACE = (
    "reproduction/settings",
    "reproduction/plumbing/cli.py",
    "reproduction/plumbing/exits.py",
    "reproduction/plumbing/keras_outputs.py",
    "reproduction/plumbing/progress.py",
    "reproduction/plumbing/text.py",
)


def code_version(script, root=ROOT):
    """sha256 over the code a script's results come from: the script and every project module it
    imports, directly or through other modules (found by reading their imports), the views
    (VIEWS) and the interface (INTERFACE) aside; each as its syntax tree without docstrings
    (code_text). Changing any of them makes its cached runs stale; code that only draws views,
    words messages or orchestrates (reproduce.py) does not."""
    digest = hashlib.sha256()
    for path in sorted(imported_files(root / script, root)):
        if _under(path, root, INTERFACE):
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(code_text(path, is_script=path == root / script).encode() + b"\0")
    return digest.hexdigest()


def code_text(path, is_script=False):
    """The code of `path` as its syntax tree (ast.dump) without docstrings, so comments, layout
    and docstrings do not count; of a script (`is_script`) also without its
    `if __name__ == "__main__"` blocks and the bare print(...) statements of its main(): they
    word what a run shows, never what it computes."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    if is_script:
        tree.body = [node for node in tree.body if not _main_block(node)]
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "main":
                node.body = [line for line in node.body if not _bare_print(line)] or [ast.Pass()]
    return ast.dump(tree)


def _main_block(node):
    """Whether a script's top-level `node` is an `if __name__ == "__main__"` block (it parses
    the arguments early, or calls main())."""
    return isinstance(node, ast.If) and "__main__" in ast.dump(node.test)


def _bare_print(node):
    """Whether `node` is a statement print(...) and nothing else."""
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "print"
    )


def imported_files(path, root=ROOT, seen=None):
    """`path` and the project's .py files it imports, transitively (a set of Paths). Every form
    counts, wherever it stands (a lazy import inside a function too): `import a.b`, `from a.b
    import c` (c may be a module or a name in a.b), `from a import b`, relative imports; and
    importing a module runs its packages' __init__.py files, so they count as well."""
    seen = set() if seen is None else seen
    if path in seen or not path.is_file() or is_view(path, root):
        return seen
    seen.add(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        for module in _imported_modules(node, path, root):
            parts = module.split(".")
            for depth in range(1, len(parts) + 1):  # a.b.c runs a/__init__, a/b/__init__ too
                base = root.joinpath(*parts[:depth])
                for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                    imported_files(candidate, root, seen)
    return seen


def is_view(path, root=ROOT):
    """Whether `path` is a module that only draws views of results (VIEWS)."""
    return _under(path, root, VIEWS)


def _under(path, root, places):
    relative = path.resolve().relative_to(root.resolve()).as_posix()
    return any(relative == place or relative.startswith(place + "/") for place in places)


def _imported_modules(node, path, root):
    """The dotted names `node` may import (a module, or a name that may be a submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:  # relative: from the importing file's package, `level` steps up
        package = path.parent.relative_to(root).parts
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    return [base] + [f"{base}.{alias.name}" if base else alias.name for alias in node.names]


def files_digest(location):
    """{name: sha256} of a data file or of every file under a data folder (sorted)."""
    location = Path(location)
    paths = (
        sorted(p for p in location.rglob("*") if p.is_file()) if location.is_dir() else [location]
    )
    digests = {}
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        digests[path.name if path == location else path.relative_to(location).as_posix()] = (
            digest.hexdigest()
        )
    return digests


def run_machine():
    """What a run's numbers depend on besides its code, settings and data, read without
    importing TensorFlow: the CPU (model, cores, vector extensions), the GPUs made visible, and
    the versions of Python, TensorFlow, Keras and NumPy."""
    import platform
    from importlib import metadata

    from reproduction.plumbing.provenance import cpu_description

    def version(package):
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu": cpu_description(),
        "visible_gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "python": platform.python_version(),
        "packages": {name: version(name) for name in ("tensorflow", "keras", "numpy")},
    }


def run_key(script, settings, code, data_digests, machine=None):
    """The cache key of one run: what ran, with which settings (result_settings), on which code,
    which data bytes and which machine (run_machine)."""
    text = json.dumps(
        {
            "script": script,
            "settings": settings,
            "code": code,
            "data": data_digests,
            "machine": machine,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class RunCache:
    """Finished runs under `folder`/<key>/: record.json and arrays.npz."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def has(self, key):
        """Whether a finished run is stored under `key`."""
        return (self.folder / key / RECORD).is_file()

    def load(self, key):
        """(the stored run `key`'s record, the path of its arrays), or None if there is none."""
        entry = self.folder / key
        if not self.has(key):
            return None
        return json.loads((entry / RECORD).read_text()), entry / ARRAYS

    def store(self, key, record, arrays_file):
        """Keep a finished run: its record and its arrays (`arrays_file`, linked or copied),
        renamed into place together."""
        self.folder.mkdir(parents=True, exist_ok=True)
        entry = self.folder / key
        temporary = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.folder))
        try:
            link_or_copy(arrays_file, temporary / ARRAYS)
            (temporary / RECORD).write_text(json.dumps(record, indent=1))
            with interrupts_held():
                if entry.exists():
                    shutil.rmtree(entry)
                os.replace(temporary, entry)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
