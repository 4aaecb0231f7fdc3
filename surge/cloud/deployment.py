"""What a deployment allows its runs, whoever starts them: the hosts its fleet may load and whether
plans may run hooks.

Anyone who may start an execution writes the plan, so the plan cannot be what limits the fleet.
The deployer sets both at deploy time (CDK context ``surge:allowedTargets`` and ``surge:allowHooks``);
the stack hands them to the functions as environment variables and to the CLI as stack outputs.
Prepare refuses a plan outside them before anything runs, every worker and every setup/teardown flow
checks again before its first request (a worker may be invoked directly), and the CLI checks before
it starts an execution. Every later hop stays inside: the engine sends requests, redirects included,
only to the plan's own allowed hosts, which must all be allowed here.

Pure: the settings come in as values (functions/_runtime.Clients reads them from the environment).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from surge.errors import PlanError
from surge.plan import Plan

CTX_ALLOWED_TARGETS = "surge:allowedTargets"
CTX_ALLOW_HOOKS = "surge:allowHooks"
ANY_HOST = "*"
NO_HOSTS = "none"  # the stack's AllowedTargets output when the deployer allowed none (never empty)


def parse_host_patterns(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``api.example.com,*.staging.example.com,10.0.0.0/8`` (or a list of them): lower-cased,
    blanks dropped. Raises ValueError naming an entry that is no host, ``*.domain`` or network."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    patterns: list[str] = []
    for raw in items:
        entry = str(raw).strip().lower()
        if not entry:
            continue
        if entry != ANY_HOST and not _is_network(entry):
            name = entry[2:] if entry.startswith("*.") else entry
            if not name or any(c in name for c in "/:*?@ ") or name.startswith(".") or name.endswith("."):
                raise ValueError(
                    f"{entry!r} is not a host, a *.domain or a network such as 10.0.0.0/8 "
                    "(no scheme, port or path)"
                )
        patterns.append(entry)
    return tuple(patterns)


def _is_network(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


def host_allowed(host: str, patterns: Sequence[str]) -> bool:
    host = host.lower().strip("[]")
    for pattern in patterns:
        if pattern in (ANY_HOST, host):
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
            return True
        if "/" in pattern or _is_network(pattern):
            try:
                if ipaddress.ip_address(host) in ipaddress.ip_network(pattern, strict=False):
                    return True
            except ValueError:
                continue
    return False


@dataclass(frozen=True)
class DeploymentPolicy:
    allowed_targets: tuple[str, ...] = ()
    """Host patterns the fleet may send requests to; empty: none (the deployer has not said)."""
    allow_hooks: bool = False

    def problems(self, plan: Plan) -> list[str]:
        found: list[str] = []
        outside = sorted(h for h in plan.allowed_hosts if h and not host_allowed(h, self.allowed_targets))
        if outside:
            allowed = ", ".join(self.allowed_targets) if self.allowed_targets else "none set"
            found.append(
                f"target: {', '.join(outside)} {'is' if len(outside) == 1 else 'are'} not among the hosts "
                f"this deployment's workers may load ({CTX_ALLOWED_TARGETS}: {allowed}); the deployer "
                f"adds {'it' if len(outside) == 1 else 'them'} with `cdk deploy -c {CTX_ALLOWED_TARGETS}=...`"
            )
        if plan.hooks is not None and not self.allow_hooks:
            found.append(
                f"hooks: this deployment runs no hooks (they run your Python inside the workers, with "
                f"their role); the deployer enables them with `cdk deploy -c {CTX_ALLOW_HOOKS}=true`, "
                "or run the plan locally"
            )
        return found

    def check(self, plan: Plan) -> None:
        """PlanError listing why this deployment may not run ``plan``; nothing when it may."""
        problems = self.problems(plan)
        if problems:
            raise PlanError("the deployment does not allow this plan:", problems)


def policy_of(clients: object) -> DeploymentPolicy:
    """The deployment's policy as the functions' clients carry it (read from their environment by
    functions/_runtime.Clients); a client without it allows nothing."""
    return DeploymentPolicy(
        allowed_targets=parse_host_patterns(str(getattr(clients, "allowed_targets", "") or "")),
        allow_hooks=bool(getattr(clients, "allow_hooks", False)),
    )


__all__ = [
    "CTX_ALLOWED_TARGETS",
    "CTX_ALLOW_HOOKS",
    "NO_HOSTS",
    "DeploymentPolicy",
    "host_allowed",
    "parse_host_patterns",
    "policy_of",
]
