"""Semantic search in Italian for the knowledge base: embedders, Italian text normalisation, an incremental
hybrid (dense FAISS + lexical BM25) index persisted on disk, and abstention when no article answers.

This package knows nothing about the CRM: ``crm/kb`` feeds it articles and asks it questions.
"""

from knowledge.index import Document, KnowledgeIndex, SearchHit, SearchResult

__all__ = ["Document", "KnowledgeIndex", "SearchHit", "SearchResult"]
