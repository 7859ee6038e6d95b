"""A pytest plugin: the 30 golden cases as fixtures, for regression-testing your metric code.

Installing MatteBench registers it (entry point ``pytest11``, name ``mattebench``); disable it
with ``-p no:mattebench``. It adds two fixtures and nothing else (no options, no hooks):

``golden_case``
    Parametrised over the 30 cases (test ids are the case names): a
    :class:`metrics.golden.GoldenCase` (``name``, ``pred``, ``gt``, ``trimap``, read-only
    ``uint8`` arrays) with two helpers, ``golden_case.expected(convention="reference",
    scale="raw")`` and ``golden_case.assert_close(values, convention=..., scale=...)``.
``golden_check``
    :func:`metrics.golden.check` itself, for one test over all cases.

Example, in a matting repository's tests::

    from mylab.metrics import compute_sad, compute_conn

    def test_metrics_match_reference(golden_case):
        c = golden_case
        golden_case.assert_close(
            {"sad": compute_sad(c.pred, c.gt, c.trimap), "conn": compute_conn(c.pred, c.gt, c.trimap)}
        )

    def test_all_at_once(golden_check):
        report = golden_check(mylab.metrics.evaluate, convention="mmagic", scale="paper")
        assert report.passed, report.format()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from metrics import golden

__all__ = ["golden_case", "golden_check", "CaseFixture"]


class CaseFixture:
    """One golden case for a test: the images and the values to expect."""

    def __init__(self, case: golden.GoldenCase) -> None:
        self.name = case.name
        self.pred, self.gt, self.trimap = case.pred, case.gt, case.trimap

    def expected(self, convention: str = "reference", scale: str = "raw") -> dict[str, float]:
        """The values a correct implementation of ``convention`` gives on this case."""
        return golden.expected(self.name, convention, scale)

    def assert_close(
        self,
        values: Mapping[str, Any],
        convention: str = "reference",
        scale: str = "raw",
        rtol: float = golden.RTOL,
        atol: float | None = None,
    ) -> None:
        """Fail the test, naming the case and metric, unless every given value matches."""
        report = golden.check(
            {self.name: dict(values)},
            convention=convention,
            metrics=tuple(values),
            scale=scale,
            rtol=rtol,
            atol=atol,
            case_names=[self.name],
        )
        if not report.passed:
            pytest.fail(report.format(), pytrace=False)


@pytest.fixture(params=golden.cases(), ids=str)
def golden_case(request: pytest.FixtureRequest) -> CaseFixture:
    """Each of the 30 golden cases in turn (see the module docstring)."""
    return CaseFixture(golden.load(request.param))


@pytest.fixture
def golden_check() -> Any:
    """:func:`metrics.golden.check` (see the module docstring)."""
    return golden.check
