"""The slipstream server: REST API (FastAPI) over the engine and stores, and room for the web UI.

Nothing here is imported by `import slipstream`; `slipstream serve` imports it lazily.
"""
