import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run the ``@pytest.mark.anyio`` tests on asyncio (return "trio" to use trio instead)."""
    return "asyncio"
