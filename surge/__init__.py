"""surge: a serverless load orchestrator. Run a test plan locally or across Lambda workers."""

__version__ = "0.1.0"
