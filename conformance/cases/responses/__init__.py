"""``/responses``: one module per area (create, stream, params, input, output, tools, background)."""
