"""Embedders: texts in, normalised float32 vectors out."""

from agentmem.embedders._langchain import LangChainEmbedder
from agentmem.embedders._sentence import SentenceTransformerEmbedder, bundled_model_path

__all__ = ["LangChainEmbedder", "SentenceTransformerEmbedder", "bundled_model_path"]
