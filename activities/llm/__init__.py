"""The one LLM activity every workflow uses, behind a provider interface."""
