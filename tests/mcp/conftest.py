from tests.llm.conftest import unused_port_url

__all__ = ["unused_port_url"]
