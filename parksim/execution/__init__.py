"""How replications run, wherever they run: the unit of work, tasks and executors.

:mod:`~parksim.execution.replication` runs one replication and reduces it to the outputs
asked for; :mod:`~parksim.execution.tasks` names one replication of one design point and
runs it in a worker; :mod:`~parksim.execution.executors` runs tasks on the local process pool
(:mod:`~parksim.execution.pool`) or on a Dask cluster. Forecasts, comparisons and sweeps all
run through here, so a replication's seed, its reduction and the names of its values are made
in one way. This package builds on the model and the metrics; it never imports forecasts,
experiments, results directories, reports or the command line.
"""
