"""Responses API request and response models (pydantic v2).

Request models follow `CreateResponse` of the OpenAI OpenAPI document (the default profile) and
also accept the parameters the Open Responses `CreateResponseBody` adds (`presence_penalty`,
`frequency_penalty`). Validation is strict (no "1" -> 1 coercion): a wrong type is a 400 naming
the parameter path, as OpenAI does (`Invalid type for 'input[0].content'`).

Only the top level forbids unknown fields (`Unknown parameter: 'x'.`). Items and tools ignore
fields they do not know, because clients replay output items (which carry `id`, `status`,
`phase`, ...) as input and new item fields appear in the spec faster than gateways change.

The output models (`Response`, `ResponseItemList`, `DeletedResponse`, `ErrorResponse`) describe
what the gateway returns, for `/openapi.json`; the gateway builds those objects as dicts
(`responses.new_response`, `translate`, `streaming`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator

from . import compaction, errors, jsonbody

MAX_OUTPUT_TOKENS = 1_048_576

_STRICT_IGNORE = ConfigDict(strict=True, extra="ignore")
_STRICT_ALLOW = ConfigDict(strict=True, extra="allow")


# --- content parts ---------------------------------------------------------------------------


class InputText(BaseModel):
    model_config = _STRICT_IGNORE
    # Open Responses also has a generic `text` part with the same payload.
    type: Literal["input_text", "text"]
    text: str


class InputImage(BaseModel):
    model_config = _STRICT_IGNORE
    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["low", "high", "auto", "original"] | None = None


class InputFile(BaseModel):
    model_config = _STRICT_IGNORE
    type: Literal["input_file"]
    file_id: str | None = None
    file_data: str | None = None
    file_url: str | None = None
    filename: str | None = None


class OutputText(BaseModel):
    model_config = _STRICT_IGNORE
    type: Literal["output_text"]
    text: str
    annotations: list[dict[str, Any]] = Field(default_factory=list)
    logprobs: list[dict[str, Any]] = Field(default_factory=list)


class Refusal(BaseModel):
    model_config = _STRICT_IGNORE
    type: Literal["refusal"]
    refusal: str


_PART_TAGS = {
    "input_text": "InputText",
    "input_image": "InputImage",
    "input_file": "InputFile",
    "output_text": "OutputText",
    "refusal": "Refusal",
    # Open Responses' generic `text` part carries the same payload as input_text.
    "text": "InputText",
}


def _part_tag(value: Any) -> str | None:
    if not isinstance(value, dict | BaseModel):
        return "InputText"  # reports "valid dictionary" (a type error)
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return _PART_TAGS.get(kind) if isinstance(kind, str) else None


ContentPart = Annotated[
    Annotated[InputText, Tag("InputText")]
    | Annotated[InputImage, Tag("InputImage")]
    | Annotated[InputFile, Tag("InputFile")]
    | Annotated[OutputText, Tag("OutputText")]
    | Annotated[Refusal, Tag("Refusal")],
    Discriminator(
        _part_tag,
        custom_error_type="invalid_value",
        custom_error_message="Supported content part types are input_text, input_image, input_file, "
        "output_text and refusal",
    ),
]


# --- input items -----------------------------------------------------------------------------


class Message(BaseModel):
    """An easy input message, a typed input message or a replayed output message.

    All three share `role` + `content`; a typed item adds `type: "message"` and possibly `id`
    and `status`.
    """

    model_config = _STRICT_IGNORE
    type: Literal["message"] | None = None
    id: str | None = None
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FunctionCall(BaseModel):
    model_config = _STRICT_IGNORE
    type: Literal["function_call"]
    id: str | None = None
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FunctionCallOutput(BaseModel):
    model_config = _STRICT_IGNORE
    type: Literal["function_call_output"]
    id: str | None = None
    call_id: str
    output: str | list[ContentPart]
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class ItemReference(BaseModel):
    model_config = _STRICT_IGNORE
    type: Literal["item_reference"] | None = "item_reference"
    id: str


class OtherItem(BaseModel):
    """Item types the gateway stores and replays but does not send to a chat backend
    (reasoning, hosted tool calls, MCP items...)."""

    model_config = _STRICT_ALLOW
    type: str
    id: str | None = None


# Item types of the OpenAI `Item` union that a chat backend has no equivalent for.
OTHER_ITEM_TYPES = frozenset(
    {
        "reasoning",
        "file_search_call",
        "web_search_call",
        "computer_call",
        "computer_call_output",
        "image_generation_call",
        "code_interpreter_call",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
        "custom_tool_call",
        "custom_tool_call_output",
        "compaction",
        "tool_search_call",
    }
)


def _item_tag(value: Any) -> str | None:
    if not isinstance(value, dict):
        # Models pass through; anything else fails Message's "valid dictionary" check, which
        # reports a type error rather than an unknown item type.
        return type(value).__name__ if isinstance(value, BaseModel) else "Message"
    kind = value.get("type")
    if kind is None and "role" not in value and "id" in value:
        # Open Responses' ItemReferenceParam: "type" is optional, only "id" is required.
        return "ItemReference"
    if kind is None or kind == "message":
        return "Message"
    if not isinstance(kind, str):
        return None
    if kind in OTHER_ITEM_TYPES:
        return "OtherItem"
    return {
        "function_call": "FunctionCall",
        "function_call_output": "FunctionCallOutput",
        "item_reference": "ItemReference",
    }.get(kind)


InputItem = Annotated[
    Annotated[Message, Tag("Message")]
    | Annotated[FunctionCall, Tag("FunctionCall")]
    | Annotated[FunctionCallOutput, Tag("FunctionCallOutput")]
    | Annotated[ItemReference, Tag("ItemReference")]
    | Annotated[OtherItem, Tag("OtherItem")],
    Discriminator(
        _item_tag,
        custom_error_type="invalid_value",
        custom_error_message="Unsupported input item type",
    ),
]


# --- tools -----------------------------------------------------------------------------------


class FunctionTool(BaseModel):
    """Responses' flat function tool: `{type, name, description, parameters, strict}`."""

    model_config = _STRICT_IGNORE
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class OtherTool(BaseModel):
    """The hosted tools this gateway runs itself (file_search, mcp): kept on the response and run
    by the tool loop, never sent to the chat backend as functions. Other hosted tools
    (web_search, image_generation, ...) are rejected with a 400 naming `tools[i].type` rather
    than accepted and silently ignored (found by fuzzing with the official document)."""

    model_config = _STRICT_ALLOW
    type: Literal["file_search", "mcp"]


def _tool_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(kind, str):
        return None
    return "FunctionTool" if kind == "function" else "OtherTool"


Tool = Annotated[
    Annotated[FunctionTool, Tag("FunctionTool")] | Annotated[OtherTool, Tag("OtherTool")],
    Discriminator(_tool_tag, custom_error_type="invalid_value", custom_error_message="Tool type missing"),
]


class ToolChoiceFunction(BaseModel):
    model_config = _STRICT_IGNORE
    type: Literal["function"]
    name: str


class ToolChoiceAllowed(BaseModel):
    model_config = _STRICT_IGNORE
    type: Literal["allowed_tools"]
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class ToolChoiceOther(BaseModel):
    """`{type: "file_search"}` and the other hosted-tool choices."""

    model_config = _STRICT_ALLOW
    type: str


def _tool_choice_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "Mode"
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(kind, str):
        return None
    return {"function": "ToolChoiceFunction", "allowed_tools": "ToolChoiceAllowed"}.get(
        kind, "ToolChoiceOther"
    )


ToolChoice = Annotated[
    Annotated[Literal["none", "auto", "required"], Tag("Mode")]
    | Annotated[ToolChoiceFunction, Tag("ToolChoiceFunction")]
    | Annotated[ToolChoiceAllowed, Tag("ToolChoiceAllowed")]
    | Annotated[ToolChoiceOther, Tag("ToolChoiceOther")],
    Discriminator(
        _tool_choice_tag,
        custom_error_type="invalid_value",
        custom_error_message="tool_choice must be a string or an object with a type",
    ),
]


# --- text format -----------------------------------------------------------------------------


class FormatText(BaseModel):
    model_config = _STRICT_IGNORE
    type: Literal["text"]


class FormatJsonObject(BaseModel):
    model_config = _STRICT_IGNORE
    type: Literal["json_object"]


class FormatJsonSchema(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)
    type: Literal["json_schema"]
    name: str = Field(min_length=1, max_length=64)
    # `schema` shadows a BaseModel attribute; keep the wire name through an alias.
    json_schema: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


def _format_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return (
        {"text": "FormatText", "json_object": "FormatJsonObject", "json_schema": "FormatJsonSchema"}.get(kind)
        if isinstance(kind, str)
        else None
    )


TextFormat = Annotated[
    Annotated[FormatText, Tag("FormatText")]
    | Annotated[FormatJsonObject, Tag("FormatJsonObject")]
    | Annotated[FormatJsonSchema, Tag("FormatJsonSchema")],
    Discriminator(
        _format_tag,
        custom_error_type="invalid_value",
        custom_error_message="Supported format types are text, json_object and json_schema",
    ),
]


class TextConfig(BaseModel):
    model_config = _STRICT_IGNORE
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class StreamOptions(BaseModel):
    model_config = _STRICT_IGNORE
    include_obfuscation: bool | None = None


class ConversationRef(BaseModel):
    model_config = _STRICT_IGNORE
    id: str


class ReasoningConfig(BaseModel):
    model_config = _STRICT_IGNORE
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None


# --- the request -----------------------------------------------------------------------------

METADATA_MAX_KEYS = 16
METADATA_KEY_MAX = 64
METADATA_VALUE_MAX = 512


def validate_metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    """OpenAI `Metadata`: "Set of 16 key-value pairs ... Keys are strings with a maximum
    length of 64 characters. Values are strings with a maximum length of 512 characters."""
    if value is None:
        return None
    if len(value) > METADATA_MAX_KEYS:
        raise ValueError(
            f"expected an object with at most {METADATA_MAX_KEYS} properties, "
            f"but got an object with {len(value)} properties instead"
        )
    for key, item in value.items():
        if len(key) > METADATA_KEY_MAX:
            raise ValueError(f"key '{key[:16]}...' is longer than {METADATA_KEY_MAX} characters")
        if len(item) > METADATA_VALUE_MAX:
            raise ValueError(f"value of '{key}' is longer than {METADATA_VALUE_MAX} characters")
    return value


class CreateResponseRequest(BaseModel):
    """`POST /v1/responses` body."""

    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)

    model: str
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: str | ConversationRef | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    # Both specs: `max_output_tokens` has `"minimum": 16`. Neither gives a maximum; this gateway
    # refuses more than MAX_OUTPUT_TOKENS (far above any model's output window) so that an absurd
    # value is a 400 here rather than an unbounded promise passed to the backend.
    max_output_tokens: int | None = Field(default=None, ge=16, le=MAX_OUTPUT_TOKENS)
    max_tool_calls: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    text: TextConfig | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    background: bool | None = None
    include: list[str] | None = None
    reasoning: ReasoningConfig | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    user: str | None = None
    # Accepted so OpenAI clients are not rejected; the reference gives them no behaviour.
    prompt: dict[str, Any] | None = None
    context_management: list[dict[str, Any]] | None = None
    moderation: dict[str, Any] | None = None
    prompt_cache_options: dict[str, Any] | None = None
    prompt_cache_retention: str | None = None

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return validate_metadata(value)

    @classmethod
    def parse(cls, body: bytes | str | dict[str, Any]) -> CreateResponseRequest:
        """Validate a request body; every failure is an `APIError` 400."""
        data: Any = body
        if isinstance(body, bytes | str):
            data = jsonbody.loads(body)
        if not isinstance(data, dict):
            raise errors.invalid_request("The request body must be a JSON object.", None, "invalid_type")
        try:
            req = cls.model_validate(data)
        except ValidationError as exc:
            raise errors.from_validation_error(exc) from None
        if req.conversation is not None and req.previous_response_id is not None:
            raise errors.invalid_request(
                "Mutually exclusive parameters: Ensure you are only providing one of: "
                "'previous_response_id' or 'conversation'.",
                "conversation",
                "mutually_exclusive_parameters",
            )
        req._check_tool_choice()
        if isinstance(data.get("input"), list):
            compaction.check_compaction_items(data["input"])
        return req

    def _check_tool_choice(self) -> None:
        """A tool_choice must name something `tools` offers (OpenAI answers these with 400)."""
        choice = self.tool_choice
        if choice == "required" and not self.tools:
            raise errors.invalid_request(
                "Tool choice 'required' must be specified with 'tools' parameter.", "tool_choice",
                "invalid_value")
        if isinstance(choice, ToolChoiceFunction):
            declared = {t.name for t in self.tools or [] if isinstance(t, FunctionTool)}
            if choice.name not in declared:
                raise errors.invalid_request(
                    f"Tool choice 'function' not found in 'tools' parameter: no function named "
                    f"'{choice.name}'.", "tool_choice", "invalid_value")

    @property
    def conversation_id(self) -> str | None:
        if isinstance(self.conversation, ConversationRef):
            return self.conversation.id
        return self.conversation

    def function_tools(self) -> list[FunctionTool]:
        return [tool for tool in self.tools or [] if isinstance(tool, FunctionTool)]


# --- output objects (documentation for /openapi.json) -----------------------------------------


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorObject(_Open):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(_Open):
    error: ErrorObject


class ResponseError(_Open):
    code: str
    message: str


class IncompleteDetails(_Open):
    reason: str


class InputTokensDetails(_Open):
    cached_tokens: int


class OutputTokensDetails(_Open):
    reasoning_tokens: int


class Usage(_Open):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class Response(_Open):
    """The response object; every field `ResponseResource.required` lists in Open Responses."""

    id: str
    object: Literal["response"] = "response"
    created_at: int
    completed_at: int | None
    status: Literal["completed", "failed", "in_progress", "cancelled", "queued", "incomplete"]
    incomplete_details: IncompleteDetails | None
    model: str
    previous_response_id: str | None
    instructions: str | None
    output: list[dict[str, Any]]
    output_text: str | None = None
    error: ResponseError | None
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any]
    truncation: Literal["auto", "disabled"]
    parallel_tool_calls: bool
    text: dict[str, Any]
    top_p: float
    presence_penalty: float
    frequency_penalty: float
    top_logprobs: int
    temperature: float
    reasoning: dict[str, Any] | None
    usage: Usage | None
    max_output_tokens: int | None
    max_tool_calls: int | None
    store: bool
    background: bool
    service_tier: str
    metadata: dict[str, str]
    safety_identifier: str | None
    prompt_cache_key: str | None
    user: str | None = None
    conversation: dict[str, Any] | None = None


class ResponseItemList(_Open):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool


class DeletedResponse(_Open):
    id: str
    # What DELETE /v1/responses/{id} answers (found by fuzzing: the schema said "response").
    object: Literal["response.deleted"] = "response.deleted"
    deleted: bool
