import numpy as np
import pytest

from harness.results.stats import (
    Ratio,
    Resamples,
    SampleSet,
    bootstrap_medians,
    median_ratio,
    speed_sentence,
    summarise,
)


def test_summary_of_known_samples():
    data = np.arange(1, 1001, dtype=float)  # 1..1000
    s = summarise(data, np.random.default_rng(0))
    assert s.n == 1000
    assert s.mean == pytest.approx(500.5)
    assert s.p50 == pytest.approx(500.5)
    assert s.p90 == pytest.approx(900.1)
    assert s.p99 == pytest.approx(990.01)
    assert s.max == 1000 and s.min == 1
    assert s.median_ci_low < 500.5 < s.median_ci_high
    # the median of 1000 uniform ranks is known to within a few percent
    assert s.median_ci_low > 450 and s.median_ci_high < 550


def test_constant_samples_have_a_degenerate_interval():
    s = summarise(np.full(50, 7.0), np.random.default_rng(0))
    assert (s.median_ci_low, s.p50, s.median_ci_high) == (7.0, 7.0, 7.0)


def test_ratio_of_clearly_different_samples_is_significant():
    rng = np.random.default_rng(1)
    fast = rng.normal(100, 5, 400)
    slow = rng.normal(300, 15, 400)
    r = median_ratio(slow, fast, rng)
    assert r.value == pytest.approx(3.0, rel=0.03)
    assert r.ci_low < r.value < r.ci_high
    assert r.significant
    assert "3.0" in speed_sentence("fast", "slow", r, " here") or "2.9" in speed_sentence(
        "fast", "slow", r, " here"
    )


def test_ratio_of_same_distribution_is_not_significant():
    rng = np.random.default_rng(2)
    a = rng.normal(100, 10, 300)
    b = rng.normal(100, 10, 300)
    r = median_ratio(a, b, rng)
    assert not r.significant
    assert "no significant difference" in speed_sentence("a", "b", r, "")


def test_significance_is_about_the_interval_excluding_one():
    assert Ratio(1.2, 1.01, 1.4).significant
    assert Ratio(0.8, 0.7, 0.99).significant
    assert not Ratio(1.2, 0.99, 1.4).significant


def test_bootstrap_handles_large_samples_in_bounded_chunks():
    data = np.random.default_rng(3).exponential(1.0, 50_000)
    medians = bootstrap_medians(data, np.random.default_rng(4), resamples=300)
    assert medians.shape == (300,)
    assert abs(np.median(medians) - np.median(data)) < 0.02


def test_a_window_whose_second_half_drifted_is_unstable_and_a_steady_one_is_not():
    from harness.results.stats import halves_ratio, is_unstable

    rng = np.random.default_rng(7)
    steady = rng.normal(100, 5, 2000)
    drifted = np.concatenate([rng.normal(100, 5, 1000), rng.normal(150, 5, 1000)])
    slight = np.concatenate([rng.normal(100, 5, 1000), rng.normal(104, 5, 1000)])
    assert not is_unstable(halves_ratio(steady, rng))
    ratio = halves_ratio(drifted, rng)
    assert is_unstable(ratio) and ratio.value == pytest.approx(1.5, rel=0.03)
    assert is_unstable(halves_ratio(drifted[::-1].copy(), rng))  # faster later: unstable too
    small = halves_ratio(slight, rng)
    assert small.significant and not is_unstable(small)  # real, but within 10%
    assert halves_ratio(steady[:9], rng) is None  # too few to tell


def test_sessions_that_disagree_widen_the_interval_a_single_session_would_not_show():
    """Each session a few percent off in its own direction (fresh connections, another
    backend): resampled by session the ratio is no longer 'significant' on one session's luck."""
    rng = np.random.default_rng(5)
    shifts_a, shifts_b = [1.00, 1.08, 0.95], [1.03, 0.97, 1.04]
    a = np.concatenate([rng.normal(100 * k, 2, 300) for k in shifts_a])
    b = np.concatenate([rng.normal(100 * k, 2, 300) for k in shifts_b])
    flat = median_ratio(a, b, np.random.default_rng(6))
    by_session = median_ratio(a, b, np.random.default_rng(6), [300] * 3, [300] * 3)
    assert by_session.value == flat.value  # the point estimate is the same
    assert (by_session.ci_high - by_session.ci_low) > 3 * (flat.ci_high - flat.ci_low)
    assert not by_session.significant


def test_sessions_shared_by_both_variants_are_drawn_together():
    """A shift common to both variants in one session (the machine, in that session) cancels
    in the ratio when both are resampled by the same sessions; drawn apart it would not."""
    rng = np.random.default_rng(7)
    common = [0.8, 1.0, 1.25]
    a = np.concatenate([rng.normal(120 * k, 1, 200) for k in common])  # 1.2x slower everywhere
    b = np.concatenate([rng.normal(100 * k, 1, 200) for k in common])
    paired = median_ratio(a, b, np.random.default_rng(8), [200] * 3, [200] * 3)
    apart = median_ratio(a, b, np.random.default_rng(8), [200] * 3, [200] * 3, paired=False)
    assert paired.significant and paired.ci_low > 1.1
    assert (apart.ci_high - apart.ci_low) > 3 * (paired.ci_high - paired.ci_low)


def test_resamples_pair_the_sets_of_one_point_and_draw_other_points_apart():
    """One point's variants, measured in the same sessions, share each resample's sessions:
    a shift common to both cancels, as in median_ratio. The same samples under another point
    are drawn apart, and each set's interval is the same whichever comparison asked first."""
    rng = np.random.default_rng(7)
    common = [0.8, 1.0, 1.25]
    a = np.concatenate([rng.normal(120 * k, 1, 200) for k in common])
    b = np.concatenate([rng.normal(100 * k, 1, 200) for k in common])
    c = np.concatenate([rng.normal(150 * k, 1, 200) for k in common])
    sets = {
        name: SampleSet("rows=1", name, x, [200] * 3)
        for name, x in zip("abc", (a, b, c), strict=True)
    }
    first, second = Resamples(3), Resamples(3)
    paired = first.ratio(sets["a"], sets["b"])
    second.ratio(sets["c"], sets["b"])  # b drawn first for another comparison
    assert second.ratio(sets["a"], sets["b"]) == paired
    assert first.medians(sets["a"]) is first.medians(sets["a"])  # drawn once
    apart = first.ratio(sets["a"], SampleSet("rows=100", "b", b, [200] * 3))
    assert paired.significant and paired.ci_low > 1.1
    assert (apart.ci_high - apart.ci_low) > 3 * (paired.ci_high - paired.ci_low)
    fewer = first.ratio(sets["a"], SampleSet("rows=1", "d", b[:400], [200] * 2))
    assert (fewer.ci_high - fewer.ci_low) > 3 * (paired.ci_high - paired.ci_low)  # not paired


def test_sessions_that_do_not_describe_the_samples_are_ignored():
    data = np.arange(100.0)
    rng = np.random.default_rng(9)
    plain = bootstrap_medians(data, np.random.default_rng(1), resamples=50)
    for sessions in (None, [100], [50, 40], [0, 100]):
        assert (bootstrap_medians(data, np.random.default_rng(1), 50, sessions) == plain).all()
    assert summarise(data, rng, [50, 50]).median_ci_low <= 49.5
