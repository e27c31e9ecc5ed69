"""The study's table for this machine: measured at a few small sizes, predicted at the dataset's full size.

``python -m pipelines.study`` (:mod:`pipelines.study.__main__`, the command line) runs the study
(:mod:`~pipelines.study.run`): it times the study's loaders and cache modes on generated datasets of the chosen
shape at a few sizes (:mod:`~pipelines.study.measuring`, :mod:`~pipelines.study.scaling`), on fewer cores in
pinned children (:mod:`~pipelines.study.levels`, :mod:`~pipelines.study.pinning`) with each stage's cost
(:mod:`~pipelines.study.stages`), fits how each epoch's time grows with the images
(:mod:`~pipelines.study.extrapolate`), predicts the full-size table with the memory and disk checks
(:mod:`~pipelines.study.table`), recommends a pipeline (:mod:`~pipelines.study.recommend`), checks it at the
held-out size (:mod:`~pipelines.study.check`) and writes its files (:mod:`~pipelines.study.output`).
``python -m pipelines.study.grid`` runs it over dataset shapes x RAM budgets x models
(:mod:`~pipelines.study.grid_report` prints that grid's table).
"""
