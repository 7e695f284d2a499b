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


# --------------------------------------------------------------------------------------------------- seeds as units

N_IMG = 30
_BASE = np.random.default_rng(11).uniform(0.55, 0.9, N_IMG)


def _by_seed(deltas: list[float], base: np.ndarray = _BASE, noise: float = 0.0, rng_seed: int = 0,
             shuffle: bool = False) -> dict[int, pd.DataFrame]:
    """{seed: table}: seed s scores ``base + deltas[s]`` (+ per-image noise) on the same N_IMG images."""
    rng = np.random.default_rng(rng_seed)
    out = {}
    for s, delta in enumerate(deltas):
        df = _table(base + delta + rng.normal(0, noise, base.size) if noise else base + delta)
        out[s] = df.sample(frac=1.0, random_state=s) if shuffle else df
    return out


def test_hierarchical_ci_with_one_seed_is_the_image_bootstrap_and_says_so() -> None:
    one = stats.hierarchical_ci(_by_seed([0.0]))
    assert one["n_seeds"] == 1 and one["n_images"] == N_IMG and np.isnan(one["sd"])
    assert one["note"] == "one seed: the interval covers test images only"
    assert one["mean"] == pytest.approx(_BASE.mean())
    low, high = stats.bootstrap_ci(_BASE)  # BCa over the same images: about the same interval
    assert one["ci_low"] == pytest.approx(low, abs=0.01) and one["ci_high"] == pytest.approx(high, abs=0.01)
    # identical seeds add nothing: the same image draws (one block of resamples) give the very same interval
    same = stats.hierarchical_ci(_by_seed([0.0, 0.0, 0.0]), n_resamples=1000)
    alone = stats.hierarchical_ci(_by_seed([0.0]), n_resamples=1000)
    assert same["ci_low"] == pytest.approx(alone["ci_low"], abs=1e-12) and same["sd"] == 0.0
    assert same["ci_high"] == pytest.approx(alone["ci_high"], abs=1e-12)


def test_hierarchical_ci_is_wider_than_the_image_interval_when_seeds_vary() -> None:
    by_seed = _by_seed([-0.04, 0.0, 0.04])
    res = stats.hierarchical_ci(by_seed)
    image = stats.run_ci(stats.pool_seeds(by_seed))
    assert res["mean"] == pytest.approx(image["mean"]) and res["sd"] == pytest.approx(0.04)
    assert res["ci_low"] < image["ci_low"] and image["ci_high"] < res["ci_high"]
    assert res["n_seeds"] == 3 and res["note"] == ""


def test_hierarchical_statistics_are_deterministic_and_ignore_row_order() -> None:
    a, b = _by_seed([0.0, 0.01, -0.01], noise=0.02), _by_seed([0.02, 0.0, 0.03], noise=0.02, rng_seed=1)
    first = stats.seed_comparison(a, b, seed=3)
    assert stats.seed_comparison(a, b, seed=3) == first
    assert stats.seed_comparison(a, {s: t.sample(frac=1.0, random_state=9) for s, t in b.items()}, seed=3) == first
    assert stats.seed_comparison(a, b, seed=4)["diff_ci_low"] != first["diff_ci_low"]
    assert stats.hierarchical_ci(a, seed=5) == stats.hierarchical_ci(a, seed=5)


def test_a_consistent_difference_over_three_seeds_is_significant() -> None:
    a = _by_seed([0.0, 0.01, -0.01], noise=0.01)
    b = _by_seed([0.05, 0.06, 0.04], noise=0.01, rng_seed=1)
    res = stats.seed_comparison(a, b)
    assert res["seeds"] == (0, 1, 2) and res["n_seeds"] == 3 and res["n"] == N_IMG
    assert res["diff"] == pytest.approx(0.05, abs=0.01) and 0 < res["diff_ci_low"] < res["diff"] < res["diff_ci_high"]
    assert res["p_value"] == pytest.approx(2 / (stats.N_RESAMPLES + 1))  # no resample at or below 0
    assert res["significant"] and res["beyond_seed_sd"] and res["note"] == ""
    flipped = stats.seed_comparison(b, a)  # b - a: swapping flips the sign, not the verdict
    assert flipped["diff"] == pytest.approx(-res["diff"]) and flipped["significant"]


def test_seeds_that_disagree_are_not_significant_though_the_images_are() -> None:
    a = _by_seed([0.0, 0.0, 0.0])
    b = _by_seed([0.03, -0.03, 0.02])  # each seed moves every image the same way; the seeds disagree
    res = stats.seed_comparison(a, b)
    assert not res["significant"] and res["p_value"] > 0.05 and res["diff_ci_low"] < 0 < res["diff_ci_high"]
    assert res["diff_sd"] == pytest.approx(np.std([0.03, -0.03, 0.02], ddof=1))
    pooled = stats.paired_comparison(stats.pool_seeds(a), stats.pool_seeds(b))
    assert pooled["p_value"] < 1e-5  # the per-image test sees 30 images all +0.0067
    table = stats.compare_seeds({"A": a, "B": b}, [("A", "B")])
    assert not table.significant.iloc[0] and table.significant_images.iloc[0]


def test_a_difference_within_the_across_seed_sd_is_never_significant() -> None:
    a = _by_seed([0.0, 0.1, 0.2])
    res = stats.seed_comparison(a, _by_seed([0.02, 0.12, 0.22]))  # +0.02 on every image of every seed
    assert res["diff_ci_low"] == pytest.approx(0.02) and res["p_value"] < 0.01  # the interval excludes 0 ...
    assert not res["beyond_seed_sd"] and not res["significant"]  # ... but 0.02 < sd 0.1
    assert res["note"] == "difference within the across-seed sd"


def test_one_common_seed_is_never_significant() -> None:
    a, b = _by_seed([0.0]), _by_seed([0.2])
    res = stats.seed_comparison(a, b)
    assert res["n_seeds"] == 1 and not res["significant"] and np.isnan(res["p_value"])
    assert res["note"] == stats.ONE_SEED == "one seed: no seed-level evidence"
    assert res["diff_ci_low"] == pytest.approx(0.2)  # the image bootstrap of the one run each
    # seeds are paired by number: a with seeds 0-2 and b with seed 0 only share one seed
    assert stats.seed_comparison(_by_seed([0.0, 0.1, 0.2]), b)["n_seeds"] == 1


def test_two_seeds_that_agree_are_not_a_seed_level_test() -> None:
    """With two seeds the seed stage can only redraw those two: +0.2 on both would get the smallest p there is. Fewer
    than MIN_SEEDS common seeds give an interval, no p, and no significance; the third seed makes it a test."""
    assert stats.MIN_SEEDS == 3
    two = stats.seed_comparison(_by_seed([0.0, 0.01]), _by_seed([0.2, 0.21]))
    assert two["n_seeds"] == 2 and two["beyond_seed_sd"] and two["diff_ci_low"] > 0.15
    assert np.isnan(two["p_value"]) and not two["significant"]
    assert two["note"] == stats.few_seeds(2) == "2 seeds: fewer than 3, no seed-level test"
    three = stats.seed_comparison(_by_seed([0.0, 0.01, 0.02]), _by_seed([0.2, 0.21, 0.22]))
    assert three["p_value"] < 0.01 and three["significant"] and three["note"] == ""
    assert stats.few_seeds(1) == stats.ONE_SEED and stats.few_seeds(3) == ""
    table = stats.compare_seeds({"A": _by_seed([0.0, 0.01]), "B": _by_seed([0.2, 0.21])}, [("A", "B")])
    assert np.isnan(table.p_holm.iloc[0]) and not table.significant.iloc[0]
    ni = stats.non_inferiority(_by_seed([0.0, 0.01]), _by_seed([0.0, 0.01]))
    assert ni["note"].startswith("2 seeds: the seed stage can only redraw those 2")


def test_compare_seeds_holm_adjusts_the_seed_level_family() -> None:
    by_seed = {"A": _by_seed([0.0, 0.01, -0.01], noise=0.01), "B": _by_seed([0.05, 0.06, 0.04], noise=0.01),
               "C": _by_seed([0.0, 0.01, -0.01], noise=0.01, rng_seed=2), "D": _by_seed([0.3])}
    table = stats.compare_seeds(by_seed, [("A", "B"), ("A", "C"), ("A", "D")])
    assert list(table.columns) == stats.SEED_COMPARE_COLUMNS
    raw = table.p_value.to_numpy()
    assert np.isnan(raw[2]) and table.note.iloc[2] == stats.ONE_SEED  # one common seed: not in the family
    np.testing.assert_allclose(table.p_holm.to_numpy()[:2], stats.holm(raw[:2]))
    assert table.significant.tolist() == [True, False, False]
    assert table.significant_images.iloc[2]  # one run +0.3 on every image: the images say so, the seeds cannot
    np.testing.assert_allclose(table.p_images_holm, stats.holm(table.p_images))
    with pytest.raises(KeyError, match="valid names"):
        stats.compare_seeds(by_seed, [("A", "E")])
    no_common = stats.compare_seeds({"A": _by_seed([0.0]), "B": {1: _table(_BASE)}}, [("A", "B")])
    assert no_common.n_seeds.iloc[0] == 0 and "no seed in common" in no_common.note.iloc[0]


def test_seed_statistics_refuse_bad_input() -> None:
    a = _by_seed([0.0, 0.1])
    with pytest.raises(ValueError, match=r"seed 0: the image sets differ: 2 image\(s\) only in a"):
        stats.seed_comparison(a, {0: _table(_BASE, ids=np.r_[np.arange(28), 40, 41]), 1: a[1]})
    with pytest.raises(ValueError, match="no seed in common"):
        stats.seed_comparison(a, {5: a[0]})
    nan = {0: _table(np.r_[np.nan, _BASE[1:]])}
    with pytest.raises(ValueError, match="NaN"):
        stats.hierarchical_ci(nan)
    with pytest.raises(ValueError, match="NaN"):
        stats.seed_comparison({0: a[0]}, nan)
    with pytest.raises(ValueError, match="per_image_by_seed: .*1 image\\(s\\) only in seed 0"):
        stats.hierarchical_ci({0: a[0], 1: a[1].iloc[1:]})
    with pytest.raises(ValueError, match="confidence"):
        stats.hierarchical_ci(a, confidence=95)
    with pytest.raises(ValueError, match="margin"):
        stats.non_inferiority(a, a, margin=-0.01)


def test_rank_stability_hand_computed() -> None:
    def config(means: list[float]) -> dict[int, pd.DataFrame]:
        return {s: _table(np.full(4, m)) for s, m in enumerate(means)}

    res = stats.rank_stability({"A": config([0.9, 0.8, 0.7]), "B": config([0.8, 0.6]), "C": config([0.5])})
    # A (mean 0.8) over B (0.7): 0.9 beats both, 0.8 ties 0.8 and beats 0.6, 0.7 beats only 0.6 -> 4.5 of 6
    assert (res["best"], res["second"], res["n_pairs"], res["wins"]) == ("A", "B", 6, 4.5)
    assert res["fraction"] == 0.75 and res["mean_best"] == pytest.approx(0.8) and res["note"] == ""
    lower = stats.rank_stability({"A": config([0.9, 0.8, 0.7]), "B": config([0.8, 0.6]), "C": config([0.5])},
                                 higher_is_better=False)  # e.g. hd95: C is best, then B
    assert (lower["best"], lower["second"], lower["fraction"]) == ("C", "B", 1.0)
    single = stats.rank_stability({"A": config([0.9]), "B": config([0.8])})
    assert single["fraction"] == 1.0 and "one seed each" in single["note"]
    with pytest.raises(ValueError, match="at least two"):
        stats.rank_stability({"A": config([0.9])})


@pytest.mark.parametrize("deltas, margin, verdict", [
    ([-0.005, -0.005, -0.005], 0.01, "non-inferior"),  # loses 0.005 everywhere: within 0.01
    ([-0.05, -0.05, -0.05], 0.01, "inferior"),  # loses 0.05 everywhere
    ([0.02, -0.04, 0.0], 0.01, "inconclusive"),  # the seeds straddle -0.01
    ([-0.005, -0.005, -0.005], 0.001, "inferior"),  # the same loss against a smaller margin
    ([0.0, 0.0, 0.0], 0.01, "non-inferior"),  # the reference itself
])
def test_non_inferiority_verdicts(deltas, margin, verdict) -> None:
    reference = _by_seed([0.0, 0.01, -0.01])
    candidate = _by_seed([d + s for d, s in zip(deltas, [0.0, 0.01, -0.01], strict=True)])
    res = stats.non_inferiority(candidate, reference, margin=margin)
    assert res["verdict"] == verdict and res["verdict"] in stats.NI_VERDICTS
    assert res["diff"] == pytest.approx(np.mean(deltas)) and res["margin"] == margin
    assert res["ci_low"] <= res["lower"] <= res["diff"] <= res["ci_high"] and res["note"] == ""
    if verdict == "non-inferior":
        assert res["lower"] > -margin
    elif verdict == "inferior":
        assert res["ci_high"] < -margin
    else:
        assert res["lower"] <= -margin <= res["ci_high"]


def test_non_inferiority_with_one_seed_says_it_covers_images_only() -> None:
    res = stats.non_inferiority(_by_seed([-0.005]), _by_seed([0.0]))
    assert res["verdict"] == "non-inferior" and res["n_seeds"] == 1 and "one seed" in res["note"]
