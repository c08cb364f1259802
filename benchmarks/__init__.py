"""Benchmarks (results in RESULTS.md)."""


def pct(xs, p: float):
    """The p-th percentile of xs (nearest rank), None for no values."""
    if not len(xs):
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
