"""Contract suites for docagent's seams, shipped so that an outside implementation can prove itself with them (as
langchain-tests does for LangChain's): subclass one, give it the fixture it asks for, and run it under pytest.

    from docagent.testing.blobs import BlobStoreContract

    class TestMyBlobs(BlobStoreContract):
        @pytest.fixture
        def blobs(self, tmp_path):
            return MyBlobs(...)

These modules import pytest: they are for test suites, not for programs.
"""
