"""The protos/ import point: versions within the pin and the field names we rely on.

If a future xds-protos renames or drops any of these, the ext_proc servicer and the harness
would fail at runtime; this test fails first and says which name moved.
"""

from __future__ import annotations

import protos


def test_installed_versions_within_pin() -> None:
    assert protos.check_versions() == []


def test_service_names() -> None:
    assert protos.EXT_PROC_SERVICE == "envoy.service.ext_proc.v3.ExternalProcessor"
    assert protos.HEALTH_SERVICE == "grpc.health.v1.Health"


def _fields(message: type) -> set[str]:
    return {f.name for f in message.DESCRIPTOR.fields}  # type: ignore[attr-defined]


def test_processing_request_and_response_fields() -> None:
    both_ways = {
        "request_headers",
        "response_headers",
        "request_body",
        "response_body",
        "request_trailers",
        "response_trailers",
    }
    assert both_ways | {"protocol_config", "attributes"} <= _fields(protos.ProcessingRequest)
    assert both_ways | {"immediate_response", "mode_override"} <= _fields(protos.ProcessingResponse)
    assert {"headers", "end_of_stream"} <= _fields(protos.HttpHeaders)
    assert {"body", "end_of_stream"} <= _fields(protos.HttpBody)
    assert {"header_mutation", "body_mutation", "clear_route_cache", "status"} <= _fields(
        protos.CommonResponse
    )
    assert {"set_headers", "remove_headers"} <= _fields(protos.HeaderMutation)
    assert {"body", "clear_body", "streamed_response"} <= _fields(protos.BodyMutation)
    assert {"body", "end_of_stream"} <= _fields(protos.StreamedBodyResponse)
    assert {"status", "headers", "body", "details"} <= _fields(protos.ImmediateResponse)
    assert {"request_body_mode", "response_body_mode"} <= _fields(protos.ProtocolConfiguration)


def test_header_value_carries_raw_value() -> None:
    # Envoy 1.40 sends header values in raw_value (bytes) and leaves value empty.
    assert {"key", "value", "raw_value"} <= _fields(protos.HeaderValue)
    hv = protos.HeaderValue(key=":path", raw_value=b"/v1/chat/completions")
    assert hv.raw_value == b"/v1/chat/completions"
    assert {"header", "append_action"} <= _fields(protos.HeaderValueOption)
    assert protos.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD == 2


def test_processing_mode_enums() -> None:
    pm = protos.ProcessingMode
    assert {
        "request_header_mode",
        "response_header_mode",
        "request_body_mode",
        "response_body_mode",
        "request_trailer_mode",
        "response_trailer_mode",
    } <= _fields(pm)
    assert pm.STREAMED == 1 and pm.BUFFERED == 2 and pm.FULL_DUPLEX_STREAMED == 4
    assert pm.SEND == 1 and pm.SKIP == 2


def test_filter_config_fields_used_by_templates() -> None:
    assert {
        "grpc_service",
        "processing_mode",
        "allow_mode_override",
        "message_timeout",
        "failure_mode_allow",
        "status_on_error",
        "response_attributes",
    } <= _fields(protos.ext_proc_filter_pb2.ExternalProcessor)
    assert {"disabled", "overrides"} <= _fields(protos.ext_proc_filter_pb2.ExtProcPerRoute)


def test_round_trip_serialisation() -> None:
    req = protos.ProcessingRequest(request_body=protos.HttpBody(body=b"{}", end_of_stream=True))
    again = protos.ProcessingRequest.FromString(req.SerializeToString())
    assert again.WhichOneof("request") == "request_body"
    assert again.request_body.body == b"{}"


def test_health_servicer_is_asyncio() -> None:
    import inspect

    assert inspect.iscoroutinefunction(protos.HealthServicer.Check)
    assert protos.health_pb2.HealthCheckResponse.NOT_SERVING == 2
