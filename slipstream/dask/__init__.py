"""The Dask plugin: Dask(...) task config, a LocalCluster per attempt, DaskJob manifests."""
