"""The single import point for the Envoy and gRPC protocol stubs this project speaks.

Every other module imports the ext_proc v3 and gRPC health messages from here, never from
`envoy.*` / `grpc_health.*` directly, so there is one place that knows which Envoy API version
we speak and which wheels provide it. The stubs come from the `xds-protos` and
`grpcio-health-checking` wheels: never vendored, never hand-generated.

`SUPPORTED` pins the wheel versions we have tested the field names against;
`check_versions()` reports an installed version outside the pin, and `tests/protos/test_protos.py`
checks the message and field names the gateway and the harness rely on.
"""

from __future__ import annotations

from importlib import metadata

from envoy.config.core.v3 import base_pb2 as core_base_pb2
from envoy.extensions.filters.http.ext_proc.v3 import ext_proc_pb2 as ext_proc_filter_pb2
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as ext_proc_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ext_proc_pb2_grpc
from envoy.type.v3 import http_status_pb2
from grpc_health.v1 import health as health_mod
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = [
    "EXT_PROC_SERVICE",
    "HEALTH_SERVICE",
    "SUPPORTED",
    "BodyMutation",
    "BodyResponse",
    "CommonResponse",
    "HeaderMap",
    "HeaderMutation",
    "HeaderValue",
    "HeaderValueOption",
    "HeadersResponse",
    "HealthServicer",
    "HttpBody",
    "HttpHeaders",
    "HttpStatus",
    "HttpTrailers",
    "ImmediateResponse",
    "ProcessingMode",
    "ProcessingRequest",
    "ProcessingResponse",
    "ProtocolConfiguration",
    "StreamedBodyResponse",
    "TrailersResponse",
    "check_versions",
    "core_base_pb2",
    "ext_proc_filter_pb2",
    "ext_proc_pb2",
    "ext_proc_pb2_grpc",
    "health_pb2",
    "health_pb2_grpc",
    "http_status_pb2",
    "processing_mode_pb2",
]

# Wheel -> (lowest tested, first untested major). xds-protos follows grpcio's numbering;
# 1.85 carries Envoy's API as of Envoy 1.36+, including ProtocolConfiguration,
# StreamedBodyResponse and FULL_DUPLEX_STREAMED, which the streaming path needs.
SUPPORTED: dict[str, tuple[str, str]] = {
    "xds-protos": ("1.70", "2"),
    "grpcio-health-checking": ("1.70", "2"),
    "grpcio": ("1.70", "2"),
    "protobuf": ("5.29", "8"),
}

# Fully-qualified gRPC service names, as Envoy and health checkers ask for them.
EXT_PROC_SERVICE: str = ext_proc_pb2.DESCRIPTOR.services_by_name["ExternalProcessor"].full_name
HEALTH_SERVICE: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name

# ext_proc service messages.
ProcessingRequest = ext_proc_pb2.ProcessingRequest
ProcessingResponse = ext_proc_pb2.ProcessingResponse
HttpHeaders = ext_proc_pb2.HttpHeaders
HttpBody = ext_proc_pb2.HttpBody
HttpTrailers = ext_proc_pb2.HttpTrailers
HeadersResponse = ext_proc_pb2.HeadersResponse
BodyResponse = ext_proc_pb2.BodyResponse
TrailersResponse = ext_proc_pb2.TrailersResponse
CommonResponse = ext_proc_pb2.CommonResponse
HeaderMutation = ext_proc_pb2.HeaderMutation
BodyMutation = ext_proc_pb2.BodyMutation
StreamedBodyResponse = ext_proc_pb2.StreamedBodyResponse
ImmediateResponse = ext_proc_pb2.ImmediateResponse
ProtocolConfiguration = ext_proc_pb2.ProtocolConfiguration

# Supporting Envoy types.
ProcessingMode = processing_mode_pb2.ProcessingMode
HeaderMap = core_base_pb2.HeaderMap
HeaderValue = core_base_pb2.HeaderValue
HeaderValueOption = core_base_pb2.HeaderValueOption
HttpStatus = http_status_pb2.HttpStatus

# The asyncio health servicer (grpc_health.v1.health.aio.HealthServicer).
HealthServicer = health_mod.aio.HealthServicer


def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_versions() -> list[str]:
    """Return one message per installed wheel outside `SUPPORTED` (empty when all fit)."""
    problems: list[str] = []
    for dist, (low, high) in SUPPORTED.items():
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            problems.append(f"{dist} is not installed")
            continue
        v = _version_tuple(version)
        if not (_version_tuple(low) <= v < _version_tuple(high)):
            problems.append(f"{dist} {version} is outside the tested range >={low},<{high}")
    return problems
