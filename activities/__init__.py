"""All I/O of the product: LLM providers and the llm activity, tools, delivery side effects."""
