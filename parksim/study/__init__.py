"""Experiments around the model: experiment files and designs, the sweep results store,
sweeps and paired comparisons. They run their tasks on the executors of
:mod:`parksim.execution`. The model never imports this package."""
