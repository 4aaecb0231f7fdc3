"""CDK infrastructure for surge: small constructs composed by :class:`infra.stack.SurgeStack`.

Kept import-free on purpose: ``infra.names`` and ``infra.config`` are read by tests and tools that
must not pay for (or need) ``aws_cdk``. Import the stack from ``infra.stack``.
"""
