"""OpenAI stand-in: Images (`/openai/v1/images/generations`) and Responses (`/openai/v1/responses`).

Both with adjustable latency and failures through `/_emulator/openai/config`.
"""

from .routes import bp

__all__ = ["bp"]
