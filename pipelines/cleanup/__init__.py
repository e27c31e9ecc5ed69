"""Nothing lost, nothing left behind: the one way the suite removes anything (``ownership``: only what its own
marker proves it made), the scratch folders it makes and sweeps (``scratch``), and child processes that exit
with their parent (``children``)."""
