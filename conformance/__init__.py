"""responses-conformance: a conformance harness for OpenAI-Responses-API gateways.

See README.md in this package. Cases live in ``conformance.cases``; the API they use is
``conformance.model.case`` and ``conformance.context.CaseContext``. This package never imports
``reference``: it judges gateways from the outside.
"""
