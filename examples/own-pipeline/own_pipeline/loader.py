"""The declaration loaderbench finds through this package's entry point (``pyproject.toml``). It imports no
TensorFlow: the builder's module is imported when a case builds the pipeline."""

from pipelines.loaders.spec import LoaderSpec

LOADER = LoaderSpec(
    name="example-augmented",  # case ids: example-augmented-none-uint8-warm, ...
    label="own pipeline (tf.data, flips)",
    module="own_pipeline.pipeline",
    builder="build",
    caches=("none",),  # what this pipeline offers: no cache
    augmented=True,  # it flips images on purpose: pixels are not compared with the exact decode
)
