"""The study: each pipeline's epoch time for the full dataset on this machine, with an interval, and which to pick.

Its steps, a module each: ``measure`` (with ``children``, kept by ``checkpoint``) -> ``fit`` -> ``bound`` ->
``table`` -> ``recommend`` -> ``held_out``; ``run`` wires them, ``output`` prints and writes the result.
"""
