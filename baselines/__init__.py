"""baselines."""

__all__: list[str] = []
