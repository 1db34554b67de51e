"""Everything about running models: locating the shipped weights, loading them lazily under a
lock, and the backends that implement the pipeline's protocols."""
