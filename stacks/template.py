"""Template helpers every stack uses: the template, its parameters, tags, checkov skips, the
cross-stack imports and exports, and `finish`, which applies the parameters file's defaults.

Cross-stack references use exports named ``<exporting stack name>-<Key>``; an importing stack
has a ``<Stack>StackName`` parameter and imports with ``Fn::ImportValue`` of
``Fn::Sub "${<Stack>StackName>}-<Key>"``. The export name is resolved when the exporting stack
is deployed (``${AWS::StackName}``), so the importing side names it at deploy time too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from troposphere import (
    AWSObject,
    Equals,
    Export,
    ImportValue,
    Not,
    Output,
    Parameter,
    Ref,
    Sub,
    Tags,
    Template,
)

from stacks.params import ENV_TAG, PROJECT_TAG, BuildParams, ParamsError


def new_template(description: str) -> Template:
    template = Template(Description=description)
    template.set_version("2010-09-09")
    return template


# --- parameters ----------------------------------------------------------------------------------


def string_parameter(
    t: Template,
    title: str,
    default: str,
    description: str,
    *,
    pattern: str | None = None,
    allowed: Sequence[str] | None = None,
    cfn_type: str = "String",
) -> Parameter:
    extra: dict[str, Any] = {}
    if pattern is not None:
        extra["AllowedPattern"] = pattern
    if allowed is not None:
        extra["AllowedValues"] = list(allowed)
    return t.add_parameter(Parameter(title, Type=cfn_type, Default=default, Description=description, **extra))


def number_parameter(
    t: Template,
    title: str,
    default: int,
    description: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    allowed: Sequence[int] | None = None,
) -> Parameter:
    extra: dict[str, Any] = {}
    if minimum is not None:
        extra["MinValue"] = minimum
    if maximum is not None:
        extra["MaxValue"] = maximum
    if allowed is not None:
        extra["AllowedValues"] = list(allowed)
    return t.add_parameter(Parameter(title, Type="Number", Default=default, Description=description, **extra))


def switch(t: Template, title: str, condition: str, *, default: bool, description: str) -> str:
    """A "true"/"false" parameter and the condition that holds when it is "true"; returns the
    condition's name, for the resources that exist only with the switch on."""
    parameter = string_parameter(
        t, title, "true" if default else "false", description, allowed=["true", "false"]
    )
    t.add_condition(condition, Equals(Ref(parameter), "true"))
    return condition


def optional_parameter(
    t: Template, title: str, condition: str, description: str, *, pattern: str
) -> Parameter:
    """A string parameter that is empty by default, and the condition that holds when it is set."""
    parameter = string_parameter(t, title, "", description, pattern=pattern)
    t.add_condition(condition, Not(Equals(Ref(parameter), "")))
    return parameter


# --- tags and checkov ----------------------------------------------------------------------------


def standard_tags(params: BuildParams, stack: str, **extra: Any) -> Tags:
    return Tags({"project": PROJECT_TAG, ENV_TAG: params.env, "clickstream:stack": stack, **extra})


def tag_map(params: BuildParams) -> dict[str, str]:
    """The project and environment tags as a plain map, for resources that take tags that way."""
    return {"project": PROJECT_TAG, ENV_TAG: params.env}


def checkov_skip(resource: AWSObject, *skips: tuple[str, str]) -> AWSObject:
    """Record checkov skips (check id, reason) in the resource's Metadata, where checkov reads them."""
    metadata = dict(getattr(resource, "Metadata", {}) or {})
    checkov = dict(metadata.get("checkov", {}))
    checkov["skip"] = [*checkov.get("skip", []), *({"id": i, "comment": c} for i, c in skips)]
    metadata["checkov"] = checkov
    resource.Metadata = metadata
    return resource


# --- imports and exports -------------------------------------------------------------------------


def stack_name_parameter(template: Template, params: BuildParams, stack: str) -> Parameter:
    """The parameter naming the stack whose exports this template imports."""
    return string_parameter(
        template,
        f"{stack.capitalize()}StackName",
        params.stack_name(stack),
        f"Name of the deployed {stack} stack whose exports this stack imports",
        pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$",
    )


def import_from(stack_param: Parameter, key: str) -> ImportValue:
    return ImportValue(Sub(f"${{{stack_param.title}}}-{key}"))


def export(template: Template, key: str, value: Any, description: str) -> Output:
    """An output exported as <this stack's name>-<key>."""
    return template.add_output(
        Output(key, Value=value, Description=description, Export=Export(Sub(f"${{AWS::StackName}}-{key}")))
    )


# --- the parameters file -------------------------------------------------------------------------


def _check_number(where: str, value: Any, parameter: Parameter) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParamsError(f"{where}: {value!r} is not a number")
    low, high = getattr(parameter, "MinValue", None), getattr(parameter, "MaxValue", None)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ParamsError(f"{where}: {value} is outside [{low}, {high}]")


def finish(template: Template, params: BuildParams, stack: str) -> Template:
    """Apply the parameter-default overrides for `stack`, refusing names the template lacks."""
    overrides = params.parameters.get(stack, {})
    unknown = set(overrides) - set(template.parameters)
    if unknown:
        raise ParamsError(
            f"parameters.{stack}: unknown parameter(s) {sorted(unknown)}; "
            f"the {stack} stack has {sorted(template.parameters)}"
        )
    for key, value in overrides.items():
        parameter = template.parameters[key]
        allowed = getattr(parameter, "AllowedValues", None)
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if allowed and text not in [str(a) for a in allowed]:
            raise ParamsError(f"parameters.{stack}.{key}: {text!r} is not one of {allowed}")
        pattern = getattr(parameter, "AllowedPattern", None)
        if pattern and not re.fullmatch(pattern, text):
            raise ParamsError(f"parameters.{stack}.{key}: {text!r} does not match {pattern}")
        if parameter.Type == "Number":
            _check_number(f"parameters.{stack}.{key}", value, parameter)
        parameter.Default = text if parameter.Type == "String" else value
    return template
