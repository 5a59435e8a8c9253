"""LLM providers: each turns an `LLMRequest` into a `ProviderReply`."""
