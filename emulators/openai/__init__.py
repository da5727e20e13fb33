"""OpenAI Images stand-in: `/openai/v1/images/generations`, with adjustable latency and failures."""

from .routes import bp

__all__ = ["bp"]
