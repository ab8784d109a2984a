"""The saved model: the whole fitted pipeline a training run chose, reusable on new rows.

``model.pt`` (written by :func:`trainer.api.write_artifacts`, read by :class:`SavedModel`)
holds everything prediction needs and nothing about the machine it was trained on:

* ``encoder``: the column roles (features, sensitive attribute, label, id column) with the
  fitted one-hot levels and numeric scaling (:class:`trainer.data.tabular.TableEncoder`) and
  the sensitive-attribute handling (privileged value or group codes);
* per seed: the chosen grid point, the estimator's class and parameters and its fitted
  weights (an FR-Train checkpoint, optimiser state included, or a baseline's fitted arrays);
* ``metadata``: format version, method, data set name, a SHA-256 of the training data, the
  seeds, library versions, and the chosen point's validation and test metrics.

``SavedModel.predict_frame(table)`` encodes raw rows with the fitted encoder and returns
``id, score, label`` (score = the model's logit, label in {-1, +1}), formatted exactly as
``predictions.csv`` records the job's test rows. Unknown categories, missing columns and
values of the wrong type raise :class:`trainer.data.tabular.DataError` naming the column.
"""

from __future__ import annotations

import hashlib
import importlib
import pickle
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainer.data.tabular import PREPARERS, DataError, TableEncoder, read_table

FORMAT = "frtrain-model/1"
#: Score formatting shared by predictions.csv and predict (so they compare as text).
SCORE_FORMAT = "{:.6g}"


def format_score(value: float) -> str:
    return SCORE_FORMAT.format(float(value))


def data_sha256(ds: Any) -> str:
    """SHA-256 of the encoded training rows (features, labels, groups)."""
    h = hashlib.sha256()
    for arr in (ds.train.X, ds.train.y, ds.train.z):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("frtrain", "torch", "numpy", "pandas", "scikit-learn"):
        try:
            from importlib.metadata import version

            out[name] = version(name)
        except Exception:
            continue
    return out


def estimator_record(est: Any) -> dict[str, Any]:
    """What rebuilds a fitted estimator: class, parameters and fitted state."""
    cls = type(est)
    record: dict[str, Any] = {"class": f"{cls.__module__}:{cls.__qualname__}"}
    if hasattr(cls, "from_state_dict"):
        record["checkpoint"] = est.state_dict()
        return record
    if getattr(est, "_pickled_artifact", False):
        # fairlearn objects inside (practitioner baselines, auto): no array form exists, so
        # the fitted estimator is pickled. Only trainer.models classes are rebuilt from it
        # (rebuild_estimator), but a pickle runs code when read: load model files you trust.
        record["pickle"] = pickle.dumps(est)
        return record
    record["params"] = {k: v for k, v in est.get_params().items() if _plain(v)}
    fitted: dict[str, Any] = {}
    for k, v in vars(est).items():
        if not k.endswith("_") or k.startswith("_"):
            continue
        try:
            arr = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            continue  # histories, nested objects: not needed to predict
        fitted[k] = arr.tolist()
    record["fitted"] = fitted
    return record


def _plain(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def rebuild_estimator(record: Mapping[str, Any]) -> Any:
    module, name = str(record["class"]).split(":")
    if not module.startswith("trainer.models."):
        raise DataError(f"model file names an estimator outside trainer.models: {module}")
    cls = getattr(importlib.import_module(module), name)
    if "pickle" in record:
        est = pickle.loads(record["pickle"])  # trusted files only (see estimator_record)
        if type(est) is not cls:
            raise DataError(f"model file: estimator is not the {name} it names")
        return est
    if "checkpoint" in record:
        return cls.from_state_dict(record["checkpoint"])
    est = cls(**record["params"])
    for k, v in record["fitted"].items():
        arr = np.asarray(v, dtype=np.float64)
        setattr(est, k, float(arr) if arr.ndim == 0 else arr)
    if hasattr(est, "n_features_in_"):
        est.n_features_in_ = int(est.n_features_in_)
    return est


class SavedModel:
    """A fitted pipeline loaded from ``model.pt`` (see the module docstring)."""

    def __init__(self, payload: Mapping[str, Any]) -> None:
        if payload.get("format") != FORMAT:
            raise DataError(
                f"not a {FORMAT} model file (format {payload.get('format')!r}); "
                "retrain with this version of frtrain"
            )
        self.payload = payload
        self.prepare: str | None = payload.get("prepare")
        self.metadata: dict[str, Any] = dict(payload["metadata"])
        self.seeds = [int(s) for s in payload["models"]]
        self._estimators: dict[int, Any] = {}

    @classmethod
    def load(cls, path: str | Path) -> SavedModel:
        import torch

        try:
            payload = torch.load(Path(path), map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise DataError(
                f"{Path(path).name}: not a readable frtrain model file ({exc})"
            ) from None
        return cls(payload)

    def estimator(self, seed: int | None = None) -> Any:
        """The chosen model of ``seed`` (default: the first seed of the run)."""
        s = self.seeds[0] if seed is None else int(seed)
        if s not in self.seeds:
            raise DataError(f"the model has seeds {self.seeds}, not {s}")
        if s not in self._estimators:
            self._estimators[s] = rebuild_estimator(self.payload["models"][str(s)]["estimator"])
        return self._estimators[s]

    def encoder(self, seed: int | None = None) -> TableEncoder:
        """The fitted encoder of ``seed``'s run (each seed fits scaling on its own split)."""
        s = self.seeds[0] if seed is None else int(seed)
        if s not in self.seeds:
            raise DataError(f"the model has seeds {self.seeds}, not {s}")
        return TableEncoder.from_dict(self.payload["models"][str(s)]["encoder"])

    def input_columns(self, seed: int | None = None) -> list[str]:
        """The raw columns a row must have: the features and the sensitive attribute."""
        enc = self.encoder(seed)
        return [*(f.name for f in enc.features), enc.sensitive]

    def predict_frame(
        self, table: pd.DataFrame | str | Path, seed: int | None = None
    ) -> pd.DataFrame:
        """``id, score, label`` for every row of ``table`` (raw columns, as in training)."""
        df = table if isinstance(table, pd.DataFrame) else read_table(table, what=str(table))
        what = "the rows" if isinstance(table, pd.DataFrame) else str(table)
        if len(df) == 0:
            raise DataError(f"{what}: no rows to predict")
        if self.prepare:
            df = PREPARERS[self.prepare](df)
        df = df.reset_index(drop=True)
        enc = self.encoder(seed)
        X = enc.transform_features(df, what)
        z = enc.transform_sensitive(df, what)
        idc = enc.id_column
        ids: Sequence[Any] = df[idc].tolist() if idc and idc in df.columns else list(range(len(df)))
        scores = np.asarray(self.estimator(seed).decision_function(X, z), dtype=np.float64)
        return pd.DataFrame(
            {
                "id": ids,
                "score": [format_score(v) for v in scores],
                "label": np.where(scores > 0, 1, -1),
            }
        )


def build_payload(
    *,
    datasets: Sequence[Any],
    method: str,
    dataset: str,
    seeds: Sequence[Mapping[str, Any]],
    estimators: Sequence[Any],
    spec_summary: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``model.pt`` dict of a finished run (``seeds``: the results' per-seed entries,
    ``datasets`` and ``estimators`` the data set and chosen estimator of each seed)."""
    for ds in datasets:
        if ds.info.get("encoder") is None:
            raise DataError(f"data set {ds.name!r} carries no fitted encoder; cannot save it")
    ds = datasets[0]
    return {
        "format": FORMAT,
        "prepare": ds.info.get("prepare"),
        "models": {
            str(s["seed"]): {
                "params": dict(s["selected_params"]),
                "encoder": d.info["encoder"],
                "data_sha256": data_sha256(d),
                "estimator": estimator_record(est),
                "val": s["val"],
                "test": s["test"],
            }
            for s, d, est in zip(seeds, datasets, estimators, strict=True)
        },
        "metadata": {
            "method": method,
            "dataset": dataset,
            "data_sha256": data_sha256(ds),
            "seeds": [int(s["seed"]) for s in seeds],
            "feature_names": list(ds.feature_names),
            "sensitive": ds.sensitive_name,
            "group_names": {str(k): v for k, v in ds.group_names.items()},
            "versions": library_versions(),
            "spec": dict(spec_summary),
        },
    }
