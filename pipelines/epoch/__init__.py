"""One epoch and its clock: what every measuring floor above the loaders needs.

``clock`` (the benchmark timer, paused around work that is not an epoch), ``run`` (one epoch of a pipeline run and
counted: ``run_epoch``, ``EpochRun``, ``Rate``, the machine's ``DecodeLimit``), ``faults`` (an epoch's page faults
and time in the kernel), ``teardown`` (spent iterators destroyed off the main thread), ``reference`` (the paired
reference workload timed after each round, for the gate to divide the machine's drift out). These modules import
the loaders, caches and datasets below them and nothing above: memory, limits, training, the harness, the study
and the gate all read them.
"""
