"""Results that explain themselves: ``extra_info`` for each case, and reports read from pytest-benchmark JSON."""
