"""What a user trains, they can keep: the recovered network saved as an ``.npz`` file, and applied to new
data later (``cvxnn solve --save``, ``cvxnn predict``).

The file holds plain arrays only (``np.load(..., allow_pickle=False)`` reads it): the network's first
layer ``U`` (d x m, the bias row last when the program had a bias column), output weights ``alpha`` (m),
for a gated network its gates ``G``; the preprocessing that ``predict`` must repeat (``bias``, and the
standardisation ``mean`` / ``scale`` fitted on the training data, empty when none); and the program's
metadata as a JSON string.
"""
from __future__ import annotations

import json
import zipfile

import numpy as np

from formulations.network import GatedReLUNetwork, ReLUNetwork
from formulations.validation import check_matrix

FORMAT_VERSION = 1


def save_model(path, network, *, bias=False, mean=None, scale=None, metadata=None):
    """Write ``network`` (a ReLU or gated ReLU network) and its preprocessing to the ``.npz`` file ``path``."""
    if isinstance(network, GatedReLUNetwork):
        if network.G is None:
            raise ValueError("this gated network has no gate directions, so it cannot predict new data; "
                             "solve with sampled directions to keep it")
        kind, gates = "gated", network.G
    elif isinstance(network, ReLUNetwork):
        kind, gates = "relu", np.zeros((network.d, 0))
    else:
        raise ValueError(f"cannot save a {type(network).__name__}; expected a ReLU or gated ReLU network")
    none = np.zeros(0)
    try:
        with open(path, "wb") as handle:
            np.savez(handle, format_version=np.array(FORMAT_VERSION), kind=np.array(kind), U=network.U,
                     alpha=network.alpha, G=gates, bias=np.array(bool(bias)),
                     mean=none if mean is None else np.asarray(mean, float),
                     scale=none if scale is None else np.asarray(scale, float),
                     metadata=np.array(json.dumps(metadata or {})))
    except OSError as exc:
        raise ValueError(f"cannot write the model to {path}: {exc.strerror}") from None


class SavedModel:
    """A network read back by :func:`load_model`, with the preprocessing it was trained with."""

    def __init__(self, network, bias, mean, scale, metadata):
        self.network, self.bias, self.mean, self.scale, self.metadata = network, bias, mean, scale, metadata

    @property
    def n_features(self):
        """Features the raw data must have (before the bias column is appended)."""
        return self.network.d - int(self.bias)

    def prepare(self, X):
        """The network's input for raw data ``X``: standardised with the training statistics, then the
        bias column appended - exactly what training did."""
        X = check_matrix(X, "X")
        if X.shape[1] != self.n_features:
            raise ValueError(f"shape mismatch: the model takes {self.n_features} features, the data have "
                             f"{X.shape[1]}")
        if self.mean.size:
            X = (X - self.mean) / self.scale
        if self.bias:
            X = np.hstack([X, np.ones((X.shape[0], 1))])
        return X

    def predict(self, X):
        """Network outputs f(x) for the rows of the raw data ``X``."""
        return self.network.predict(self.prepare(X))


def load_model(path):
    """Read a model written by :func:`save_model` (ValueError naming the problem otherwise)."""
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a cvxnn model file (an .npz archive written by cvxnn solve --save)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the model {path}: {str(exc).splitlines()[0]}") from None
    missing = {"kind", "U", "alpha", "G", "bias", "mean", "scale", "metadata"} - set(contents)
    if missing:
        raise ValueError(f"{path} is not a cvxnn model file (missing {', '.join(sorted(missing))})")
    kind = str(contents["kind"])
    if kind == "gated":
        network = GatedReLUNetwork(contents["U"], contents["alpha"], contents["G"])
    elif kind == "relu":
        network = ReLUNetwork(contents["U"], contents["alpha"])
    else:
        raise ValueError(f"{path} holds an unknown kind of network {kind!r}")
    return SavedModel(network, bool(contents["bias"]), contents["mean"], contents["scale"],
                      json.loads(str(contents["metadata"])))
