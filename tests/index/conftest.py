from collections.abc import Iterator

import pytest

from tests.index.embeddings_server import EmbeddingsServer


@pytest.fixture
def embeddings_server() -> Iterator[EmbeddingsServer]:
    with EmbeddingsServer() as server:
        yield server
