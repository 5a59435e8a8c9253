"""Real local servers that stand in for remote services in tests (LLM APIs, webhook and SMTP
receivers), each on 127.0.0.1 with an ephemeral port and scriptable answers."""
