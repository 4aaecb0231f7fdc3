"""Cloud runs: the workflow's state functions, the run record, the S3 layout, and the CLI's client."""

# The CloudFormation stack a CLI command talks to unless --stack names another (kept here, light:
# the CLI's argument parser needs it without importing the cloud client).
DEFAULT_STACK = "Surge"
