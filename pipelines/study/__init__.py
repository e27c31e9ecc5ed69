"""The study's table for this machine: measured at a few small sizes, predicted at the dataset's full size.

``python -m pipelines.study`` (:mod:`pipelines.study.__main__`) runs the study's loaders and cache modes on
generated datasets of the chosen shape at a few sizes (:mod:`~pipelines.study.scaling`), fits how each epoch's
time grows with the images (:mod:`~pipelines.study.extrapolate`), predicts the full-size table with the memory
and disk checks (:mod:`~pipelines.study.table`) and recommends a pipeline (:mod:`~pipelines.study.recommend`).
"""
