"""Secrets by reference: ``{{ $secret.NAME }}`` (Secrets Manager) and ``{{ $ssm.NAME }}`` (Parameter
Store), read once before any traffic, under the stack's prefix, and handed to the engine in memory.

A plan never holds a value: it names the secret. A local run reads it with the user's credentials,
a cloud worker with its role (``secretsmanager:GetSecretValue`` on ``surge/*``,
``ssm:GetParameter`` on ``parameter/surge/*``). The values go to the redactor of the run, so they are
masked wherever they could appear. Clients are injected; :func:`secret_refs` is pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from surge.errors import UserError
from surge.metrics.aws import error_code
from surge.plan_refs import env_names, secret_names
from surge.template import secret_ref

if TYPE_CHECKING:
    from surge.plan import Plan

SECRETS_PREFIX = "surge/"  # infra/names.py SECRETS_PREFIX: what the worker role may read


def secret_refs(plan: Plan) -> list[tuple[str, str]]:
    """Every ``(kind, name)`` the plan references, in order, once each."""
    return secret_names(plan.model_dump(mode="json", by_alias=True))


def env_refs(plan: Plan) -> list[str]:
    """The environment variables the plan reads (``{{ $env.NAME }}``), in order, once each."""
    return env_names(plan.model_dump(mode="json", by_alias=True))


def stored_name(kind: str, name: str, prefix: str = SECRETS_PREFIX) -> str:
    """The secret's id in Secrets Manager (``surge/NAME``) or the parameter's (``/surge/NAME``)."""
    return f"{prefix}{name}" if kind == "secret" else f"/{prefix}{name}"


def resolve_secrets(
    plan: Plan, *, secretsmanager: Any = None, ssm: Any = None, prefix: str = SECRETS_PREFIX
) -> dict[str, str]:
    """The values of every reference in ``plan``, keyed ``$secret.NAME`` / ``$ssm.NAME`` (the
    template's environment). Raises UserError naming the secret and what to do."""
    values: dict[str, str] = {}
    refs = secret_refs(plan)
    for kind, name in refs:
        if kind != "secret":
            continue
        stored = stored_name(kind, name, prefix)
        try:
            value = secretsmanager.get_secret_value(SecretId=stored).get("SecretString")
        except Exception as exc:
            raise _unreadable(kind, name, stored, exc) from None
        if value is None:
            raise UserError(f"{{{{ $secret.{name} }}}}: secret {stored} is binary; store it as text")
        values[f"$secret.{name}"] = str(value)
    parameters = [name for kind, name in refs if kind == "ssm"]
    # GetParameters reads ten per call: Parameter Store's request rate (40/s by default) is what a
    # fleet's start spends, so the fewer calls the better (ssm_calls()).
    for first in range(0, len(parameters), SSM_NAMES_PER_CALL):
        batch = parameters[first : first + SSM_NAMES_PER_CALL]
        stored_names = {stored_name("ssm", name, prefix): name for name in batch}
        try:
            answer = ssm.get_parameters(Names=list(stored_names), WithDecryption=True)
        except Exception as exc:
            stored = ", ".join(stored_names)
            raise _unreadable("ssm", batch[0] if len(batch) == 1 else ", ".join(batch), stored, exc) from None
        for missing in answer.get("InvalidParameters", []):
            name = stored_names.get(missing, missing)
            raise UserError(
                f"{{{{ $ssm.{name} }}}}: {missing} does not exist; store it with "
                f"`surge secret put {name} --ssm` (value from stdin)"
            )
        for parameter in answer.get("Parameters", []):
            values[f"$ssm.{stored_names[parameter['Name']]}"] = str(parameter["Value"])
    return values


# GetParameters takes at most ten names.
SSM_NAMES_PER_CALL = 10


def ssm_calls(plan: Plan) -> int:
    """How many Parameter Store calls a worker makes to read the plan's ``$ssm`` references."""
    count = sum(1 for kind, _ in secret_refs(plan) if kind == "ssm")
    return -(-count // SSM_NAMES_PER_CALL)


def _unreadable(kind: str, name: str, stored: str, exc: Exception) -> UserError:
    code = error_code(exc)
    if code in ("ResourceNotFoundException", "ParameterNotFound"):
        return UserError(
            f"{{{{ ${kind}.{name} }}}}: {stored} does not exist; store it with "
            f"`surge secret put {name}{' --ssm' if kind == 'ssm' else ''}` (value from stdin)"
        )
    if code in ("AccessDeniedException", "AccessDenied"):
        return UserError(
            f"{{{{ ${kind}.{name} }}}}: not allowed to read {stored} "
            f"({'secretsmanager:GetSecretValue' if kind == 'secret' else 'ssm:GetParameters'})"
        )
    return UserError(f"{{{{ ${kind}.{name} }}}}: cannot read {stored}: {exc}")


def check_secrets_exist(plan: Plan, *, secretsmanager: Any, prefix: str = SECRETS_PREFIX) -> list[str]:
    """Prepare's check, before any worker starts: each referenced Secrets Manager secret exists
    (metadata only: Prepare may not read values). Parameters are read by the workers only
    (DescribeParameters takes no resource-level permission). Problems name the reference."""
    problems: list[str] = []
    for kind, name in secret_refs(plan):
        if kind != "secret":
            continue
        stored = stored_name(kind, name, prefix)
        try:
            secretsmanager.describe_secret(SecretId=stored)
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                problems.append(
                    f"{{{{ $secret.{name} }}}}: secret {stored} does not exist; "
                    f"store it with `surge secret put {name}` (value from stdin)"
                )
            else:
                problems.append(f"{{{{ $secret.{name} }}}}: cannot check {stored}: {exc}")
    return problems


def put_secret(
    name: str, value: str, *, secretsmanager: Any = None, ssm: Any = None, prefix: str = SECRETS_PREFIX
) -> str:
    """Store ``value`` as ``surge/NAME`` (a new version if it exists); returns the stored name."""
    if secret_ref(f"$secret.{name}") is None:
        raise UserError(f"secret name {name!r}: use letters, digits and _ . / - (e.g. checkout/api-token)")
    if ssm is not None:
        stored = stored_name("ssm", name, prefix)
        ssm.put_parameter(Name=stored, Value=value, Type="SecureString", Overwrite=True)
        return stored
    stored = stored_name("secret", name, prefix)
    try:
        secretsmanager.create_secret(Name=stored, SecretString=value)
    except Exception as exc:
        if error_code(exc) != "ResourceExistsException":
            raise UserError(f"cannot store secret {stored}: {exc}") from None
        secretsmanager.put_secret_value(SecretId=stored, SecretString=value)
    return stored
