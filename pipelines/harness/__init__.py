"""The benchmark harness: how a number is made and recorded.

``settings`` (the run's options), ``plan`` (rounds of whole epochs), ``rounds`` (rounds under pytest-benchmark),
``cold_warm`` (what happens around each cold and warm epoch), ``contention`` (what others took of the machine),
``cases`` (the matrix and its ids), ``records`` (``extra_info``), ``complete`` (every epoch saw every image, or
the case posts no time), ``verdict`` (input- or compute-bound). One epoch, the clock and the spent iterators'
tear-down live a floor below, in :mod:`pipelines.epoch`.
"""
