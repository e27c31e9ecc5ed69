"""Running on a smaller machine than this one: a RAM limit that holds the page cache too, and storage throttled
to a slower disk's read rate, both by a Linux cgroup the suite makes and removes (opt-in, ``--ram-limit`` and
``--read-bandwidth``)."""
