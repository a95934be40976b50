"""Taylor and Stone's transfer metrics on hand-made learning curves whose answers are
worked out by hand, and the negative-transfer flag."""

from __future__ import annotations

import pytest

from transferkit._errors import TransferKitError
from transferkit.rl._transfer_metrics import Curve, compare, negative, summarise

TRANSFER = Curve(steps=(0, 10, 20), returns=(5.0, 8.0, 10.0))
SCRATCH = Curve(steps=(0, 10, 20), returns=(1.0, 4.0, 10.0))


def test_each_metric_on_curves_worked_by_hand():
    got = compare(TRANSFER, SCRATCH, threshold=8.0)
    assert got["jumpstart"] == 4.0
    assert got["asymptotic_gain"] == 0.0
    assert got["area_transfer"] == 10 * (5 + 8) / 2 + 10 * (8 + 10) / 2  # 155
    assert got["area_scratch"] == 10 * (1 + 4) / 2 + 10 * (4 + 10) / 2  # 95
    assert got["transfer_ratio"] == pytest.approx((155 - 95) / 95)
    assert (got["time_transfer"], got["time_scratch"], got["time_ratio"]) == (10.0, 20.0, 0.5)


def test_a_threshold_never_reached_has_no_time_and_areas_stop_at_the_shorter_curve():
    got = compare(TRANSFER, SCRATCH, threshold=11.0)
    assert got["time_transfer"] is None and got["time_ratio"] is None
    short = Curve(steps=(0, 10), returns=(1.0, 4.0))  # stopped early
    assert compare(TRANSFER, short)["area_transfer"] == 65.0


def test_summary_over_seeds_and_the_negative_transfer_flag():
    helped = [compare(TRANSFER, SCRATCH, 8.0), compare(TRANSFER, SCRATCH, 8.0)]
    summary = summarise(helped)
    assert summary["jumpstart"]["mean"] == 4.0 and summary["jumpstart"]["half_width"] == 0.0
    assert summary["time_ratio"]["seeds"] == 2
    assert not negative(summary)
    hurt = Curve(steps=(0, 10, 20), returns=(-3.0, -2.0, 2.0))
    worse = [compare(hurt, SCRATCH), compare(Curve((0, 10, 20), (-2.0, -1.0, 3.0)), SCRATCH)]
    assert negative(summarise(worse))
    # a difference whose interval straddles zero is not called negative
    mixed = [compare(hurt, SCRATCH), compare(TRANSFER, SCRATCH)]
    assert not negative(summarise(mixed))


def test_a_malformed_curve_is_one_line():
    with pytest.raises(TransferKitError, match="as many returns as steps"):
        Curve(steps=(0, 1), returns=(1.0,))
    with pytest.raises(TransferKitError, match="steps must ascend"):
        Curve(steps=(5, 1), returns=(1.0, 2.0))
