"""The assistant: a prompt answered by OpenAI's Responses API, streamed and charged per token
(`feature.Assistant`; its prices in `pricing`, the API calls in `responses`). Its pages and API
are the kit's (docs/assistant.md)."""
