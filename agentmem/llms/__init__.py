"""Chat models: the offline local default, OpenAI-compatible servers, LangChain models."""

from agentmem.llms._langchain import LangChainLLM
from agentmem.llms._local import PLAIN, REPLIES, Decoding, LocalLLM, default_gguf_path
from agentmem.llms._openai import OpenAICompatibleLLM

__all__ = [
    "PLAIN",
    "REPLIES",
    "Decoding",
    "LangChainLLM",
    "LocalLLM",
    "OpenAICompatibleLLM",
    "default_gguf_path",
]
