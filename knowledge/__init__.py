"""Semantic search in Italian for the knowledge base: embedders, Italian text normalisation, an incremental
hybrid (dense FAISS + lexical BM25) index persisted on disk, and abstention when no article answers.

This package knows nothing about the CRM: ``crm/kb`` feeds it articles and asks it questions. Its names load
lazily, so ``knowledge.threads`` can size the native thread pools before numpy and FAISS are imported.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Document", "KnowledgeIndex", "SearchHit", "SearchResult"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from knowledge import index

        return getattr(index, name)
    raise AttributeError(name)
