"""Data sets available offline, and the loader for instance files.

Bundled real data come from scikit-learn's packaged files (no download); the features of each real set
are standardised (zero mean, unit variance per column, constant columns left at zero) and the statistics
are stored on the :class:`Dataset` (``feature_mean``, ``feature_scale``) so the mapping can be undone or
applied to new data. Synthetic generators are seeded.

Instance files (docs/cli.md): ``.npz`` with ``X``, ``y`` and optional ``D`` (patterns, used as given) and
``H`` (directions); ``.csv`` with a header row, target in the last column unless ``target`` is named.
"""
from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .validation import check_matrix, check_positive_int, check_seed, check_vector, check_X_y


@dataclass
class Dataset:
    """A data set: features ``X`` (n x d), target ``y`` (n), task, source and preprocessing statistics."""

    name: str
    X: np.ndarray
    y: np.ndarray
    task: str  # "classification" (labels +/-1) or "regression"
    source: str
    feature_mean: Optional[np.ndarray] = None
    feature_scale: Optional[np.ndarray] = None
    target_mean: float = 0.0
    target_scale: float = 1.0
    D: Optional[np.ndarray] = None
    H: Optional[np.ndarray] = None
    feature_names: list = field(default_factory=list)
    raw_X: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def n(self):
        return self.X.shape[0]

    @property
    def d(self):
        return self.X.shape[1]

    def default_loss(self):
        return "hinge" if self.task == "classification" else "squared"

    def train_test_split(self, test_size=0.25, seed=0):
        """Random split; returns (X_train, X_test, y_train, y_test) as copies.

        For the standardised real sets the features are re-standardised from the raw data with
        statistics fitted on the training rows only, so no test information leaks into training."""
        if not 0 < test_size < 1:
            raise ValueError(f"test_size must be in (0, 1), got {test_size}")
        rng = np.random.default_rng(seed)
        order = rng.permutation(self.n)
        n_test = int(round(test_size * self.n))
        test, train = order[:n_test], order[n_test:]
        if self.raw_X is not None:
            X_train, mean, scale = standardize(self.raw_X[train])
            X_test = (self.raw_X[test] - mean) / scale
        else:
            X_train, X_test = self.X[train].copy(), self.X[test].copy()
        return X_train, X_test, self.y[train].copy(), self.y[test].copy()


def standardize(X, mean=None, scale=None):
    """(X - mean) / scale per column; statistics fitted on X when not given. Constant columns get
    scale 1 (they become zero). Returns (Z, mean, scale)."""
    X = check_matrix(X, "X")
    if mean is None:
        mean = X.mean(axis=0)
    if scale is None:
        scale = X.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
    return (X - mean) / scale, np.asarray(mean, float), np.asarray(scale, float)


def _standardized_real(name, X, y, task, source, feature_names, standardize_target=False):
    Z, mean, scale = standardize(X)
    y = np.asarray(y, float)
    t_mean, t_scale = 0.0, 1.0
    if standardize_target:
        t_mean, t_scale = float(y.mean()), float(y.std())
        y = (y - t_mean) / t_scale
    return Dataset(name, Z, y, task, source, mean, scale, t_mean, t_scale, feature_names=list(feature_names),
                   raw_X=np.array(X, dtype=float))


def breast_cancer():
    """Wisconsin breast cancer (569 x 30): +1 = benign, -1 = malignant; features standardised."""
    from sklearn.datasets import load_breast_cancer
    raw = load_breast_cancer()
    return _standardized_real("breast_cancer", raw.data, 2.0 * raw.target - 1.0, "classification",
                              "sklearn.datasets.load_breast_cancer (standardised)", raw.feature_names)


def digits_binary():
    """Handwritten digits (1797 x 64 pixels): +1 = digit 5-9, -1 = digit 0-4; pixels standardised."""
    from sklearn.datasets import load_digits
    raw = load_digits()
    y = np.where(raw.target >= 5, 1.0, -1.0)
    return _standardized_real("digits", raw.data, y, "classification",
                              "sklearn.datasets.load_digits, 0-4 vs 5-9 (standardised)", raw.feature_names)


def diabetes():
    """Diabetes progression (442 x 10) regression; features and target standardised."""
    from sklearn.datasets import load_diabetes
    raw = load_diabetes()
    return _standardized_real("diabetes", raw.data, raw.target, "regression",
                              "sklearn.datasets.load_diabetes (standardised, target too)", raw.feature_names,
                              standardize_target=True)


def spiral(n=100, turns=1.0, noise=0.05, seed=0):
    """Two interleaved 2-D spirals, n points, labels +/-1 (teaching data)."""
    rng = np.random.default_rng(seed)
    half = n // 2
    t = np.sqrt(rng.uniform(0.05, 1.0, size=n)) * turns * 2 * np.pi
    r = t / (turns * 2 * np.pi)
    sign = np.where(np.arange(n) < half, 1.0, -1.0)
    X = np.column_stack([sign * r * np.cos(t), sign * r * np.sin(t)]) + noise * rng.standard_normal((n, 2))
    return Dataset("spiral", X, sign.copy(), "classification", f"synthetic two-arm spiral (seed {seed})",
                   feature_names=["x1", "x2"])


def moons(n=100, noise=0.1, seed=0):
    """Two interleaving half circles (scikit-learn's make_moons), labels +/-1 (teaching data)."""
    from sklearn.datasets import make_moons
    X, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    return Dataset("moons", X, 2.0 * y - 1.0, "classification", f"sklearn.datasets.make_moons (seed {seed})",
                   feature_names=["x1", "x2"])


def teacher(n=200, d=10, width=5, noise=0.1, seed=0):
    """Regression data from a planted two-layer ReLU teacher: y = sum_j max(0, x.u_j) alpha_j + noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    U = rng.standard_normal((d, width)) / np.sqrt(d)
    alpha = rng.choice([-1.0, 1.0], size=width)
    y = np.maximum(0.0, X @ U) @ alpha + noise * rng.standard_normal(n)
    return Dataset("teacher", X, y, "regression", f"planted ReLU teacher, width {width} (seed {seed})",
                   feature_names=[f"x{i + 1}" for i in range(d)])


def synthetic(n=1000, d=30, task="classification", width=10, label_noise=0.05, seed=0):
    """A large task without the internet: a planted two-layer ReLU teacher of ``width`` neurons on Gaussian
    inputs (n x d, any size, generated from ``seed``).

    ``task="regression"``: y = teacher(x) + noise of 10% of its spread. ``task="classification"``: labels
    sign(teacher(x) - median), so the classes are balanced, with a share ``label_noise`` of them flipped.
    Rows are drawn in blocks, so the temporaries stay a few MB whatever n is."""
    n, d, width = (check_positive_int(v, name) for v, name in ((n, "n"), (d, "d"), (width, "width")))
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if not 0.0 <= label_noise < 0.5:
        raise ValueError(f"label_noise must be in [0, 0.5), got {label_noise!r}")
    rng = np.random.default_rng(check_seed(seed))
    U = rng.standard_normal((d, width)) / np.sqrt(d)
    alpha = rng.choice([-1.0, 1.0], size=width) * rng.uniform(0.5, 1.5, size=width)
    X = np.empty((n, d))
    signal = np.empty(n)
    block = max(1, 2 ** 18 // d)
    for start in range(0, n, block):
        rows = slice(start, min(n, start + block))
        X[rows] = rng.standard_normal((rows.stop - rows.start, d))
        signal[rows] = np.maximum(0.0, X[rows] @ U) @ alpha
    if task == "regression":
        y = signal + 0.1 * signal.std() * rng.standard_normal(n)
    else:
        y = np.where(signal >= np.median(signal), 1.0, -1.0)
        y[rng.random(n) < label_noise] *= -1.0
    return Dataset(f"synthetic:n={n},d={d},task={task},seed={seed}", X, y, task,
                   f"planted ReLU teacher, width {width}, {label_noise:g} label noise (seed {seed})",
                   feature_names=[f"x{i + 1}" for i in range(d)])


def _synthetic_from_spec(spec):
    """``synthetic`` or ``synthetic:n=100000,d=30,task=regression,width=10,label_noise=0.05,seed=1``."""
    options = {}
    _, _, rest = spec.partition(":")
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in ("n", "d", "task", "width", "label_noise", "seed"):
            raise ValueError(f"bad synthetic data option {item!r}: use n=, d=, task=, width=, label_noise=, seed=")
        try:
            options[key] = value if key == "task" else float(value) if key == "label_noise" else int(value)
        except ValueError:
            raise ValueError(f"bad synthetic data option {item!r}: {key} needs a number") from None
    return synthetic(**options)


DATASETS: dict[str, Callable[[], Dataset]] = {
    "breast_cancer": breast_cancer,
    "digits": digits_binary,
    "diabetes": diabetes,
    "spiral": spiral,
    "moons": moons,
    "moons20": lambda: moons(20),
    "teacher": teacher,
    "synthetic": synthetic,
}


def load_dataset(name):
    """A bundled data set by name (see :data:`DATASETS`)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; bundled: {', '.join(DATASETS)}")
    return DATASETS[name]()


def list_datasets():
    """Rows (name, n, d, task, source) for every bundled data set."""
    rows = []
    for name in DATASETS:
        ds = load_dataset(name)
        rows.append({"name": name, "n": ds.n, "d": ds.d, "task": ds.task, "source": ds.source})
    return rows


def _load_npz(path):
    if not zipfile.is_zipfile(path):  # an .npy or any other file under an .npz name
        raise ValueError(f"{path} is not an .npz archive (a zip of arrays X, y; np.savez writes one)")
    try:
        with np.load(path, allow_pickle=False) as f:
            contents = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read {path} as an .npz archive: {str(exc).splitlines()[0]}") from None
    for key in ("X", "y"):
        if key not in contents:
            raise ValueError(f"{path} has no array {key!r} (found: {', '.join(sorted(contents)) or 'none'})")
    X, y = check_X_y(contents["X"], contents["y"])
    D = contents.get("D")
    H = contents.get("H")
    return Dataset(os.path.basename(path), X, y, _guess_task(y), f"file {path}", D=D, H=H)


def _load_csv(path, target=None):
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise ValueError(f"{path} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if target is None:
        col = len(header) - 1
    elif target in header:
        col = header.index(target)
    else:
        raise ValueError(f"target column {target!r} not in the header of {path} ({', '.join(header)})")
    values = np.empty((len(rows) - 1, len(header)))
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"{path} line {i} has {len(row)} fields, the header has {len(header)}")
        for j, cell in enumerate(row):
            try:
                values[i - 2, j] = float(cell)
            except ValueError:
                raise ValueError(f"{path} line {i}, column {header[j]!r}: non-numeric value {cell!r}") from None
    y = check_vector(values[:, col], name=f"target {header[col]!r}")
    X = check_matrix(np.delete(values, col, axis=1), "X")
    return Dataset(os.path.basename(path), X, y, _guess_task(y), f"file {path}",
                   feature_names=[h for j, h in enumerate(header) if j != col])


def _guess_task(y):
    return "classification" if np.all(np.isin(y, (-1.0, 1.0))) else "regression"


def load_data(spec, target=None):
    """A bundled data set name, or a path to an ``.npz`` / ``.csv`` instance file."""
    if not isinstance(spec, str) or not spec:
        raise ValueError("data must be a bundled dataset name or a path to a .npz/.csv file")
    if spec.startswith("synthetic:"):
        return _synthetic_from_spec(spec)
    if spec in DATASETS:
        if target is not None:
            raise ValueError("--target applies to CSV files only")
        return load_dataset(spec)
    lower = spec.lower()
    if lower.endswith(".npz") or lower.endswith(".csv"):
        if not os.path.isfile(spec):
            raise ValueError(f"data file {spec} does not exist")
        return _load_npz(spec) if lower.endswith(".npz") else _load_csv(spec, target)
    raise ValueError(f"unknown dataset {spec!r}: not a bundled name ({', '.join(DATASETS)}) "
                     f"nor a .npz/.csv file")
