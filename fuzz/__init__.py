"""schemathesis fuzzing of the reference gateway (`python -m fuzz.run`; see fuzz/README.md)."""
