"""Harvest beyond one machine: curate and URL-list downloads on a Dask cluster, the near-duplicate
search as a distributed band join. Nothing here runs unless `--cluster` (or
HARVEST_DASK_SCHEDULER) asks for it; the catalog is only ever written by the driver."""
