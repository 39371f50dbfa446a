"""Type registry, transformers and the workflow DAG compiler."""
