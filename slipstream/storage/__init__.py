"""Storage: the fsspec blob store and the SQLAlchemy metadata store."""
