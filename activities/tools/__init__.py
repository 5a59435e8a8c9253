"""Tools the agent can call. Each is an activity named `tool.<name>` with a pydantic input schema that
is also the JSON schema the model sees."""
