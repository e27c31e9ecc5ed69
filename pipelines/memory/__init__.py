"""Memory checks: predict what a cache costs, skip what would not fit, and measure what did run."""

from pipelines.memory.predict import (
    CachePrediction,
    available_ram,
    exceeds_budget,
    exceeds_disk,
    free_disk,
    predict_cache,
    ram_needed,
)

__all__ = ["CachePrediction", "available_ram", "exceeds_budget", "exceeds_disk", "free_disk", "predict_cache",
           "ram_needed"]
