"""ACLs and SCRAM users, through the Admin API as `schemabus acls` and `schemabus users` do (so in front
of Apache Kafka too): list, create and delete ACLs; list SCRAM users (mechanism and iterations; the
broker never gives out more), create or change one (upsert) and delete one.

A password typed into the user form goes to the AdminClient only (it salts and hashes it client side,
KIP-554): it is never put back into a page, a flash message or the log.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, ConfigResource, ResourcePatternType,
    ResourceType,
    ScramCredentialInfo, UserScramCredentialDeletion, UserScramCredentialUpsertion,
)
from flask import Blueprint, flash, redirect, render_template, request, url_for

from cli.acls import CLUSTER_NAME, RESOURCE_NAMES
from cli.users import DEFAULT_ITERATIONS, MECHANISMS
from console.backends import SERVICE_TIMEOUT_S
from console.routes import backends

bp = Blueprint("security", __name__, url_prefix="/security")
nav = ("security.acls", "Security")

RESOURCE_TYPES = {name: rtype for rtype, name in RESOURCE_NAMES.items()}  # CLUSTER -> ResourceType.BROKER
PATTERN_TYPES = {"LITERAL": ResourcePatternType.LITERAL, "PREFIXED": ResourcePatternType.PREFIXED}
OPERATIONS = {op.name: op for op in AclOperation if op not in (AclOperation.UNKNOWN, AclOperation.ANY)}
PERMISSIONS = {"ALLOW": AclPermissionType.ALLOW, "DENY": AclPermissionType.DENY}
MIN_ITERATIONS, MAX_ITERATIONS = 4096, 16384  # what Kafka accepts for SCRAM credentials
ACL_FIELDS = ("resource_type", "resource_name", "pattern_type", "principal", "host", "operation", "permission")


def _kafka_error(exc: Exception) -> KafkaError | None:
    return exc.args[0] if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError) \
        else None


def _message(exc: Exception) -> str:
    error = _kafka_error(exc)
    return error.str() if error is not None else str(exc)


def _security_disabled(exc: Exception) -> bool:
    error = _kafka_error(exc)
    return error is not None and error.code() == KafkaError.SECURITY_DISABLED


def _broker_config(*names: str) -> dict[str, str] | None:
    """Some of a broker's configs (DescribeConfigs), None when it will not tell (then the pages go by
    what the ACL and SCRAM APIs answer)."""
    try:
        cluster = backends().admin.describe_cluster(request_timeout=SERVICE_TIMEOUT_S).result()
        node = cluster.controller or min(cluster.nodes, key=lambda n: n.id)
        resource = ConfigResource(ConfigResource.Type.BROKER, str(node.id))
        entries = backends().admin.describe_configs([resource], request_timeout=SERVICE_TIMEOUT_S)[resource].result()
    except (KafkaException, ValueError):
        return None
    return {name: entries[name].value or "" for name in names if name in entries}


# -- ACLs -------------------------------------------------------------------------------------------

def _acl_row(binding: AclBinding) -> dict:
    return {"resource_type": RESOURCE_NAMES.get(binding.restype, binding.restype.name),
            "resource_name": binding.name, "pattern_type": binding.resource_pattern_type.name,
            "principal": binding.principal, "host": binding.host, "operation": binding.operation.name,
            "permission": binding.permission_type.name}


def _list_acls() -> list[dict]:
    match_all = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                 AclPermissionType.ANY)
    found = backends().admin.describe_acls(match_all, request_timeout=SERVICE_TIMEOUT_S).result()
    rows = [_acl_row(b) for b in found]
    return sorted(rows, key=lambda r: tuple(r[f] for f in ACL_FIELDS))


def _acl_form_errors(form: dict) -> dict[str, str]:
    errors = {}
    for field, choices in (("resource_type", RESOURCE_TYPES), ("pattern_type", PATTERN_TYPES),
                           ("operation", OPERATIONS), ("permission", PERMISSIONS)):
        if form[field] not in choices:
            errors[field] = f"Choose one of {', '.join(choices)}."
    if not form["resource_name"]:
        errors["resource_name"] = "A resource name is needed (a topic, group or transactional id, or a prefix)."
    elif form["resource_type"] == "CLUSTER" and form["resource_name"] != CLUSTER_NAME:
        errors["resource_name"] = f"The cluster resource is always named {CLUSTER_NAME}."
    kind, _, name = form["principal"].partition(":")
    if not kind.strip() or not name.strip():
        errors["principal"] = "Expected TYPE:NAME, e.g. User:alice."
    if not form["host"]:
        errors["host"] = "A host (an IP address), or * for any."
    return errors


def _acl_form() -> dict:
    return {field: (request.form.get(field) or "").strip() for field in ACL_FIELDS}


def _binding(form: dict) -> AclBinding:
    return AclBinding(RESOURCE_TYPES[form["resource_type"]], form["resource_name"], PATTERN_TYPES[form["pattern_type"]],
                      form["principal"], form["host"], OPERATIONS[form["operation"]], PERMISSIONS[form["permission"]])


def _render_acls(form: dict | None = None, errors: dict | None = None, problem: str | None = None):
    disabled, listing_error, rows = False, None, []
    # A broker without an authorizer answers DescribeAcls with SECURITY_DISABLED, which librdkafka
    # reports as an empty list: its authorizer.class.name tells.
    if (_broker_config("authorizer.class.name") or {}).get("authorizer.class.name", "-") == "":
        disabled = True
    else:
        try:
            rows = _list_acls()
        except KafkaException as exc:
            disabled = _security_disabled(exc)
            listing_error = None if disabled else _message(exc)
    form = form or {"resource_type": "TOPIC", "resource_name": "", "pattern_type": "LITERAL", "principal": "",
                    "host": "*", "operation": "READ", "permission": "ALLOW"}
    return render_template("security/acls.html", title="ACLs", rows=rows, disabled=disabled,
                           listing_error=listing_error, form=form, errors=errors or {}, problem=problem,
                           resource_types=RESOURCE_TYPES, pattern_types=PATTERN_TYPES, operations=OPERATIONS,
                           permissions=PERMISSIONS, fields=ACL_FIELDS)


@bp.get("/")
@bp.get("/acls")
def acls():
    return _render_acls()


@bp.post("/acls")
def create_acl():
    form = _acl_form()
    errors = _acl_form_errors(form)
    if errors:
        return _render_acls(form, errors, "The ACL was not created: correct the fields marked below.")
    binding = _binding(form)
    try:
        backends().admin.create_acls([binding], request_timeout=SERVICE_TIMEOUT_S)[binding].result()
    except KafkaException as exc:
        return _render_acls(form, {}, f"The broker refused the ACL: {_message(exc)}")
    flash(f"ACL created: {form['permission']} {form['principal']} {form['operation']} on "
          f"{form['resource_type']} {form['resource_name']} ({form['pattern_type']}).", "success")
    return redirect(url_for("security.acls"))


@bp.post("/acls/delete")
def delete_acl():
    """Deletes exactly the binding of the row (a filter with every field given matches only it)."""
    form = _acl_form()
    if _acl_form_errors(form):
        flash("That ACL could not be read from the form; nothing was deleted.", "error")
        return redirect(url_for("security.acls"))
    b = _binding(form)
    exact = AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation,
                             b.permission_type)
    try:
        deleted = backends().admin.delete_acls([exact], request_timeout=SERVICE_TIMEOUT_S)[exact].result()
    except KafkaException as exc:
        flash(f"The broker did not delete the ACL: {_message(exc)}", "error")
        return redirect(url_for("security.acls"))
    flash(f"ACL deleted ({len(deleted)} binding{'s' if len(deleted) != 1 else ''}).", "success")
    return redirect(url_for("security.acls"))


# -- SCRAM users -------------------------------------------------------------------------------------

def _list_users() -> list[dict]:
    described = backends().admin.describe_user_scram_credentials(request_timeout=SERVICE_TIMEOUT_S).result()
    return [{"user": user, "credentials": sorted(((info.mechanism.name.replace("_", "-"), info.iterations)
                                                 for info in description.scram_credential_infos))}
            for user, description in sorted(described.items())]


def _render_users(form: dict | None = None, errors: dict | None = None, problem: str | None = None):
    try:
        rows, listing_error = _list_users(), None
    except KafkaException as exc:
        rows, listing_error = [], _message(exc)
    enabled = (_broker_config("sasl.enabled.mechanisms") or {}).get("sasl.enabled.mechanisms")
    scram_off = enabled is not None and "SCRAM" not in enabled.upper()
    form = form or {"user": "", "mechanisms": list(MECHANISMS), "iterations": str(DEFAULT_ITERATIONS)}
    return render_template("security/users.html", title="SCRAM users", rows=rows, listing_error=listing_error,
                           form=form, errors=errors or {}, problem=problem, mechanisms=list(MECHANISMS),
                           scram_off=scram_off, sasl_mechanisms=enabled,
                           min_iterations=MIN_ITERATIONS, max_iterations=MAX_ITERATIONS)


@bp.get("/users")
def users():
    return _render_users()


@bp.post("/users")
def upsert_user():
    # The password stays in this function: the form put back into the page never holds it.
    password = request.form.get("password") or ""
    form = {"user": (request.form.get("user") or "").strip(), "mechanisms": request.form.getlist("mechanism"),
            "iterations": (request.form.get("iterations") or "").strip()}
    errors = {}
    if not form["user"] or any(c.isspace() for c in form["user"]):
        errors["user"] = "A user name, without spaces."
    if not password:
        errors["password"] = "A password is needed."
    if not form["mechanisms"] or any(m not in MECHANISMS for m in form["mechanisms"]):
        errors["mechanism"] = f"Choose {' and/or '.join(MECHANISMS)}."
    try:
        iterations = int(form["iterations"])
        if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
            raise ValueError
    except ValueError:
        errors["iterations"] = f"A whole number from {MIN_ITERATIONS} to {MAX_ITERATIONS}."
    if errors:
        return _render_users(form, errors, "The user was not saved: correct the fields marked below.")
    upserts = [UserScramCredentialUpsertion(form["user"], ScramCredentialInfo(MECHANISMS[m], iterations),
                                            password.encode()) for m in form["mechanisms"]]
    try:
        for future in backends().admin.alter_user_scram_credentials(upserts,
                                                                   request_timeout=SERVICE_TIMEOUT_S).values():
            future.result()
    except KafkaException as exc:
        return _render_users(form, {}, f"The broker refused the credentials: {_message(exc)}")
    flash(f"SCRAM credentials of {form['user']} saved ({', '.join(form['mechanisms'])}, {iterations} iterations).",
          "success")
    return redirect(url_for("security.users"))


@bp.post("/users/delete")
def delete_user():
    user = (request.form.get("user") or "").strip()
    try:
        described = backends().admin.describe_user_scram_credentials([user], request_timeout=SERVICE_TIMEOUT_S)
        mechanisms = [info.mechanism for info in described[user].result().scram_credential_infos]
        deletions = [UserScramCredentialDeletion(user, m) for m in mechanisms]
        for future in backends().admin.alter_user_scram_credentials(deletions,
                                                                   request_timeout=SERVICE_TIMEOUT_S).values():
            future.result()
    except KafkaException as exc:
        flash(f"The broker did not delete {user}: {_message(exc)}", "error")
        return redirect(url_for("security.users"))
    flash(f"SCRAM user {user} deleted.", "success")
    return redirect(url_for("security.users"))
