import pytest

from openlfr.metrics import Proportion, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [  # reference values computed by hand from the Wilson formula, z = 1.96
        (7, 8, 0.5291, 0.9776),
        (10, 2077, 0.002614, 0.008827),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_interval(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson_interval(k, n)
    assert got[0] == pytest.approx(lo, abs=2e-4)
    assert got[1] == pytest.approx(hi, abs=2e-4)


def test_proportion_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError):
        Proportion(5, 3)


def test_proportion_reports_counts_and_one_in() -> None:
    p = Proportion(1, 6000)
    assert p.one_in == 6000
    assert "1/6000" in str(p) and "95% CI" in str(p)
    assert Proportion(0, 0).rate is None
