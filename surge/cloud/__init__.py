"""Cloud runs: the workflow's state functions, the run record, the S3 layout, and the CLI's client."""
