"""Troposphere modules generating the platform's CloudFormation, one module per stack.

Each module exposes ``build(params: BuildParams) -> troposphere.Template``; ``STACK_ORDER`` is the
deployment order (each stack imports only from stacks before it).
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

from troposphere import Template

from stacks import data, etl, hosts, ingest, monitoring, network, web
from stacks.params import BuildParams

BUILDERS: MappingProxyType[str, Callable[[BuildParams], Template]] = MappingProxyType(
    {
        "network": network.build,
        "data": data.build,
        "hosts": hosts.build,
        "ingest": ingest.build,
        "etl": etl.build,
        "web": web.build,
        "monitoring": monitoring.build,
    }
)
