"""crystaloop's tools for LLM agents, served over the Model Context Protocol (``crystaloop mcp``).

:mod:`~crystaloop.agent.guards` checks what an agent sends (structures, paths, the oracle budget);
:mod:`~crystaloop.agent.tools` holds the tools as plain functions over the library (testable
without a client); :mod:`~crystaloop.agent.server` registers them on an MCP server with their
descriptions and read-only / submits-work annotations.
"""
