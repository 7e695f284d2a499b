"""Tests of seg_utils.stats (intervals, seed pooling, paired tests, Holm) against known cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seg_utils import stats

# --------------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_normal_sample_contains_mean_and_has_expected_width() -> None:
    n, mu, sd = 400, 0.7, 0.1
    x = np.random.default_rng(42).normal(mu, sd, n)
    low, high = stats.bootstrap_ci(x)
    assert low < mu < high
    assert (high - low) == pytest.approx(2 * 1.96 * x.std(ddof=1) / np.sqrt(n), rel=0.1)
    assert stats.bootstrap_ci(x) == (low, high)  # same seed, same interval
    assert stats.bootstrap_ci(x, confidence=0.5)[1] - stats.bootstrap_ci(x, confidence=0.5)[0] < high - low


def test_bootstrap_ci_coverage_of_a_skewed_sample() -> None:
    # Dice-like: bounded at 1, long left tail; nominal 95% should hold roughly at n = 40
    rng = np.random.default_rng(7)
    true_mean = 1 - 2 / (2 + 8)  # 1 - Beta(2, 8) mean
    hits = [
        lo <= true_mean <= hi
        for lo, hi in (stats.bootstrap_ci(1 - rng.beta(2, 8, 40), n_resamples=2000, seed=i) for i in range(100))
    ]
    assert 0.87 <= np.mean(hits) <= 1.0


def test_bootstrap_ci_degenerate_inputs() -> None:
    assert stats.bootstrap_ci(np.full(10, 0.8)) == (0.8, 0.8)
    assert all(np.isnan(stats.bootstrap_ci(np.array([0.8]))))
    assert all(np.isnan(stats.bootstrap_ci(np.array([]))))
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap_ci(np.array([0.1, np.nan, 0.3]))
    with pytest.raises(ValueError, match="confidence"):
        stats.bootstrap_ci(np.array([0.1, 0.3]), confidence=95)


def test_run_ci() -> None:
    df = pd.DataFrame({"image_id": range(50), "dice": np.linspace(0.5, 1.0, 50)})
    res = stats.run_ci(df)
    assert res["mean"] == pytest.approx(0.75) and res["n"] == 50 and res["n_undefined"] == 0
    assert res["ci_low"] < 0.75 < res["ci_high"]
    df["hd95"] = np.r_[np.nan, np.nan, np.arange(48.0)]
    res = stats.run_ci(df, column="hd95")
    assert res["n"] == 48 and res["n_undefined"] == 2 and res["mean"] == pytest.approx(23.5)
    df.loc[3, "dice"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        stats.run_ci(df)
    with pytest.raises(KeyError, match="iou"):
        stats.run_ci(df, column="iou")


def test_pooled_dice_ci() -> None:
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"tp": rng.integers(50, 500, 40), "fp": rng.integers(0, 60, 40), "fn": rng.integers(0, 60, 40)})
    pooled = 2 * df.tp.sum() / (2 * df.tp.sum() + df.fp.sum() + df.fn.sum())
    low, high = stats.pooled_dice_ci(df)
    assert low < pooled < high and high - low < 0.1
    assert stats.pooled_dice_ci(df) == (low, high)  # same seed, same interval
    assert all(np.isnan(stats.pooled_dice_ci(df.iloc[:1])))
    with pytest.raises(KeyError, match="fn"):
        stats.pooled_dice_ci(df.drop(columns="fn"))


# --------------------------------------------------------------------------------------------------- paired tests


def _table(values: np.ndarray, ids: np.ndarray | None = None) -> pd.DataFrame:
    ids = np.arange(len(values)) if ids is None else ids
    return pd.DataFrame({"image_id": [f"img{i:03d}" for i in ids], "dice": values})


@pytest.fixture(scope="module")
def shifted() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(3)
    a = rng.uniform(0.55, 0.9, 100)
    return {"A": _table(a), "A_copy": _table(a.copy()), "B": _table(a + 0.05 + rng.normal(0, 0.03, 100))}


def test_identical_configurations_no_difference(shifted: dict[str, pd.DataFrame]) -> None:
    res = stats.paired_comparison(shifted["A"], shifted["A_copy"])
    assert res["diff"] == 0.0 and res["p_value"] == 1.0 and res["n"] == 100
    assert res["diff_ci_low"] <= 0.0 <= res["diff_ci_high"]
    assert res["mean_a"] == res["mean_b"]


def test_planted_shift_is_detected(shifted: dict[str, pd.DataFrame]) -> None:
    table = stats.compare_all(shifted, [("A", "B"), ("A", "A_copy")])
    assert list(table.columns) == stats.COMPARE_COLUMNS
    shift, same = table.iloc[0], table.iloc[1]
    assert shift["p_holm"] < 0.05 and bool(shift["significant"])
    assert 0.0 < shift["diff_ci_low"] < 0.05 < shift["diff_ci_high"]
    assert shift["diff"] == pytest.approx(0.05, abs=0.01)
    assert shift["diff"] == pytest.approx(shift["mean_b"] - shift["mean_a"])
    assert same["p_value"] == 1.0 and same["p_holm"] == 1.0 and not bool(same["significant"])
    # b - a: swapping the pair flips the sign, not the p-value
    swapped = stats.paired_comparison(shifted["B"], shifted["A"])
    assert swapped["diff"] == pytest.approx(-shift["diff"]) and swapped["p_value"] == pytest.approx(shift["p_value"])


def test_paired_comparison_aligns_on_key(shifted: dict[str, pd.DataFrame]) -> None:
    expected = stats.paired_comparison(shifted["A"], shifted["B"])
    shuffled = shifted["B"].sample(frac=1.0, random_state=0)
    assert stats.paired_comparison(shifted["A"], shuffled) == expected


def test_mismatched_image_sets_raise() -> None:
    a, b = _table(np.full(10, 0.8)), _table(np.full(10, 0.7), ids=np.r_[np.arange(8), 20, 21])
    with pytest.raises(ValueError, match=r"2 image\(s\) only in a .* 2 only in b .* 8 shared"):
        stats.paired_comparison(a, b)
    with pytest.raises(ValueError, match="more than once"):
        stats.paired_comparison(a, pd.concat([a, a.iloc[:1]]))
    with pytest.raises(KeyError, match="valid names"):
        stats.compare_all({"A": a}, [("A", "C")])


def test_paired_difference_is_the_comparisons_diff(shifted: dict[str, pd.DataFrame]) -> None:
    shuffled = shifted["B"].sample(frac=1.0, random_state=0)
    assert stats.paired_difference(shifted["A"], shuffled) == pytest.approx(
        stats.paired_comparison(shifted["A"], shifted["B"])["diff"])
    with pytest.raises(ValueError, match="image sets differ"):
        stats.paired_difference(shifted["A"], shifted["B"].iloc[:50])


def test_paired_comparison_hd95_drops_undefined_images() -> None:
    a = pd.DataFrame({"image_id": range(6), "hd95": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0]})
    b = pd.DataFrame({"image_id": range(6), "hd95": [2.0, 3.0, 3.0, np.nan, 6.0, 7.0]})
    res = stats.paired_comparison(a, b, column="hd95")
    assert res["n"] == 4 and res["n_undefined"] == 2 and res["diff"] == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------- Holm


def test_holm_hand_computed() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])


def test_holm_clips_keeps_nan_and_is_monotone() -> None:
    np.testing.assert_allclose(stats.holm([0.5, 0.6]), [1.0, 1.0])
    np.testing.assert_allclose(stats.holm([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])  # NaN does not count in m
    p = np.random.default_rng(0).uniform(0, 0.2, 30)
    adj = stats.holm(p)
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0) and np.all(adj >= p) and np.all(adj <= 1)
    assert stats.holm([]).shape == (0,)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.holm([0.2, 1.5])


# --------------------------------------------------------------------------------------------------- seeds


def _seeds() -> dict[int, pd.DataFrame]:
    return {
        0: pd.DataFrame({"image_id": ["x", "y", "z"], "dice": [0.8, 0.6, 1.0]}),
        1: pd.DataFrame({"image_id": ["z", "x", "y"], "dice": [0.9, 0.6, 0.7]}),
    }


def test_pool_seeds_averages_per_image() -> None:
    pooled = stats.pool_seeds(_seeds())
    assert list(pooled.columns) == ["image_id", "dice", "n_seeds"]
    assert pooled["image_id"].tolist() == ["x", "y", "z"]
    np.testing.assert_allclose(pooled["dice"], [0.7, 0.65, 0.95])
    assert pooled["n_seeds"].tolist() == [2, 2, 2]


def test_pool_seeds_hd95_counts_defined_seeds() -> None:
    by_seed = {
        0: pd.DataFrame({"image_id": [1, 2], "hd95": [2.0, np.nan]}),
        1: pd.DataFrame({"image_id": [1, 2], "hd95": [4.0, np.nan]}),
        2: pd.DataFrame({"image_id": [1, 2], "hd95": [np.nan, np.nan]}),
    }
    pooled = stats.pool_seeds(by_seed, column="hd95")
    np.testing.assert_allclose(pooled["hd95"], [3.0, np.nan])
    assert pooled["n_seeds"].tolist() == [2, 0]


def test_pool_seeds_mismatched_images_raise() -> None:
    by_seed = _seeds()
    by_seed[1] = by_seed[1].iloc[:2]
    with pytest.raises(ValueError, match=r"1 image\(s\) only in seed 0"):
        stats.pool_seeds(by_seed)
    with pytest.raises(ValueError, match="empty"):
        stats.pool_seeds({})


def test_seed_summary() -> None:
    res = stats.seed_summary(_seeds())
    m0, m1 = 2.4 / 3, 2.2 / 3
    assert res["n_seeds"] == 2
    assert res["mean"] == pytest.approx((m0 + m1) / 2)
    assert res["mean"] == pytest.approx(stats.pool_seeds(_seeds())["dice"].mean())
    assert res["sd"] == pytest.approx(abs(m0 - m1) / np.sqrt(2))
    assert np.isnan(stats.seed_summary({0: _seeds()[0]})["sd"])
