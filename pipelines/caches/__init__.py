"""Cache modes: their declarations (``modes``), the scratch folders file caches live in (``folders``) and the
page-cache handling that makes a cold epoch read storage (``pagecache``). The tf.data op of each mode is in
:mod:`pipelines.loaders.tfops`, beside the other steps every TensorFlow loader shares."""
