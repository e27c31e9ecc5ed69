"""The benchmark suite: timed cases (``test_throughput``, ``test_training``), their plumbing (``conftest``), the
plugin shared with the tests (``plugin``) and the ``loaderbench`` command (``cli``). Installed as
``loaderbench_benchmarks``."""
