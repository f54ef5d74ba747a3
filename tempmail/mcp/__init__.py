"""
The Model Context Protocol server: JSON-RPC 2.0 over Streamable HTTP, for AI
assistants that read, wait for and act on mail.  See
C{docs/MCP_INTEGRATION.md}.
"""

from tempmail.mcp.context import McpLimits, McpServices
from tempmail.mcp.server import McpServer
from tempmail.mcp.transport import McpEndpoint

__all__ = ["McpEndpoint", "McpLimits", "McpServer", "McpServices"]
