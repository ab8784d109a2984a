"""Synthetic data: shipped files, notebook split, §4.1 generator (docs/ALGORITHMS.md §6)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from trainer.data import generate_synthetic, load_synthetic, load_synthetic_arrays
from trainer.data.generate import group_probability, mean_log_likelihood
from trainer.data.synthetic import default_data_dir
from trainer.datasets import DatasetError, ensure


def test_generator_reproduces_x_and_y_bit_for_bit() -> None:
    X, y, _z = generate_synthetic()
    Xs, ys, _, _ = load_synthetic_arrays()
    assert X.dtype == Xs.dtype == np.float32
    assert np.array_equal(X, Xs)
    assert np.array_equal(y, ys)


def test_generated_z_follows_the_rotated_posterior_with_zafars_sign() -> None:
    Xs, _, zs, _ = load_synthetic_arrays()
    _, _, z = generate_synthetic()
    # Zafar's sign explains the released z far better than the paper's printed sign.
    ll_zafar = mean_log_likelihood(Xs, zs, sign=1)
    assert ll_zafar == pytest.approx(-0.416, abs=2e-3)
    assert mean_log_likelihood(Xs, zs, sign=-1) < ll_zafar - 0.5
    # Statistically like the released z: same group share, same agreement as two draws.
    assert abs(z.mean() - zs.mean()) < 0.02
    p = group_probability(Xs)
    expected_agreement = float(np.mean(p**2 + (1 - p) ** 2))
    assert abs(np.mean(z == zs) - expected_agreement) < 0.02
    # a different seed changes z but keeps the model
    _, _, z2 = generate_synthetic(seed=7)
    assert not np.array_equal(z, z2[: len(z)])


def test_generator_leaves_global_rng_alone() -> None:
    np.random.seed(3)
    before = np.random.random()
    np.random.seed(3)
    generate_synthetic(n_per_class=10)
    assert np.random.random() == before


def test_notebook_split_and_poisoned_labels() -> None:
    clean = load_synthetic()
    poi = load_synthetic(poisoned=True)
    assert (len(clean.train), len(clean.val), len(clean.test)) == (1800, 200, 1000)
    assert clean.train.ids is not None and clean.train.ids[0] == 0
    assert clean.test.ids is not None and clean.test.ids[0] == 2700
    assert set(np.unique(clean.train.y)) == {-1, 1}
    diff = clean.train.y != poi.train.y
    assert diff.sum() == 179  # 179 of the 200 flips fall in [0, 1800)
    assert np.all(poi.train.z[diff] == 1)
    assert np.array_equal(clean.val.y, poi.val.y) and np.array_equal(clean.test.y, poi.test.y)
    assert clean.test.z.sum() == 427


def test_path_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dst = tmp_path / "synthetic"
    packaged = ensure("synthetic")
    shutil.copytree(packaged, dst)
    y = np.load(dst / "y_synthetic.npy")
    y[0] = -y[0]
    np.save(dst / "y_synthetic.npy", y)
    # An explicit path is read as given (a user's own copy).
    assert load_synthetic(dst).train.y[0] == -load_synthetic().train.y[0]
    # FRTRAIN_DATA_DIR is checked against the registry's SHA-256: a changed file is refused,
    # naming it; an unchanged copy there is used (and the other data sets are filled in).
    monkeypatch.setenv("FRTRAIN_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match=r"y_synthetic\.npy does not match its SHA-256"):
        load_synthetic()
    shutil.copy(packaged / "y_synthetic.npy", dst / "y_synthetic.npy")
    assert default_data_dir() == tmp_path
    assert (tmp_path / "adult" / "adult.data").is_file()
    assert load_synthetic().train.y[0] == -y[0]
