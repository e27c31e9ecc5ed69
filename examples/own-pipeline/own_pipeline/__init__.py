"""A team's own input pipeline (tf.data with an augmentation), declared to loaderbench as ``example-augmented``."""
