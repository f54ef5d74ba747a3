"""
Every tool the server offers, in the order C{tools/list} shows them.
"""

from __future__ import annotations

from tempmail.mcp.context import McpServices
from tempmail.mcp.finding_tools import FindingTools
from tempmail.mcp.mail_tools import MailTools
from tempmail.mcp.tools import ToolBox
from tempmail.mcp.wait import WaitTool
from tempmail.mcp.webhook_tools import WebhookTools


def all_tools(services: McpServices) -> ToolBox:
    """
    The tools, over C{services}.
    """
    return ToolBox(
        [
            *MailTools(services).tools(),
            *WaitTool(services).tools(),
            *FindingTools(services).tools(),
            *WebhookTools(services).tools(),
        ]
    )
