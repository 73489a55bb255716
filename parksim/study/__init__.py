"""Experiments around the model: experiment files and designs, executors (local pool, Dask),
the sweep results store, sweeps and paired comparisons. The model never imports this package."""
