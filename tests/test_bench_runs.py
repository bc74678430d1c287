"""bench/runs.py, what the studies share: a sample's t-interval on the product's statistics (the old hand t-table's
numbers up to 10 df, the exact quantile beyond)."""

import math

import pytest

from bench.runs import mean_ci

# The table bench/validity.py carried before it used actot.report.stats: t(0.975, df), rounded to 3 decimals.
OLD_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def test_mean_ci_is_the_t_interval_of_the_sample_own_sd():
    values = [0.2, 0.5, 0.3, 0.6]  # mean 0.4, sd sqrt(0.1 / 3)
    mean, half, sd = mean_ci(values)
    assert mean == pytest.approx(0.4) and sd == pytest.approx(math.sqrt(0.1 / 3))
    assert half == pytest.approx(3.182 * sd / 2, rel=1e-3)  # t(3) = 3.1824
    for df, t in OLD_T95.items():  # the same numbers as the old table, to its 3 decimals
        x = [0.0, 1.0] + [0.5] * (df - 1)
        _, half, sd = mean_ci(x)
        assert half * math.sqrt(len(x)) / sd == pytest.approx(t, abs=5e-4)
    x = [0.0, 1.0] * 10 + [0.5]  # df 20: t = 2.086, where the table fell back to 1.96
    _, half, sd = mean_ci(x)
    assert half * math.sqrt(len(x)) / sd == pytest.approx(2.086, abs=5e-4)


def test_mean_ci_of_one_value_has_no_interval_and_of_equal_values_a_zero_one():
    assert mean_ci([0.3])[0] == 0.3 and math.isnan(mean_ci([0.3])[1]) and math.isnan(mean_ci([0.3])[2])
    assert mean_ci([0.25, 0.25, 0.25]) == (0.25, 0.0, 0.0)
