"""
The prompts: ready-made instructions for the two jobs agents most often
do with a temporary mailbox, verifying a sign-up and a password reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tempmail.mcp.jsonrpc import INVALID_PARAMS, JsonRpcError


@dataclass(frozen=True)
class Prompt:
    """
    A prompt: its arguments, and the text it makes from them.
    """

    name: str
    title: str
    description: str
    arguments: tuple[tuple[str, str, bool], ...]
    template: str

    def listing(self) -> dict[str, Any]:
        """
        The prompt as C{prompts/list} shows it.
        """
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "arguments": [
                {"name": name, "description": description, "required": required}
                for name, description, required in self.arguments
            ],
        }


PROMPTS = (
    Prompt(
        "verify_signup",
        "Verify a sign-up",
        "Sign up on a site with a fresh address and complete its email verification.",
        (
            ("site", "The site or app to sign up on.", True),
            ("sender", "Who the verification mail comes from, if known.", False),
        ),
        "Sign up on {site} and verify the email address.\n"
        "1. Call create_mailbox to get a fresh address (lock: true if others share this "
        "server; then pass its token to every later call).\n"
        "2. Use that address in {site}'s sign-up form and submit it.\n"
        "3. Call wait_for_email on the address{sender_clause}, with a timeout of 120 "
        "seconds. Mail that arrived just before the call counts, so there is no race.\n"
        "4. Call extract_verification with the email's id. Use the best code, or open the "
        "best link (its target, if it was wrapped in a tracking redirect).\n"
        "5. Report the address, the code or link used, and whether verification succeeded.",
    ),
    Prompt(
        "password_reset",
        "Test a password reset",
        "Ask a site for a password-reset mail and follow it.",
        (
            ("site", "The site or app whose reset flow to test.", True),
            ("address", "The account's address on this server.", True),
        ),
        "Test the password-reset flow of {site} for {address}.\n"
        "1. Request a password reset for {address} on {site}.\n"
        '2. Call wait_for_email on {address} with subject_contains "reset" and a timeout '
        "of 120 seconds.\n"
        "3. Call extract_verification with the email's id; the reset link ranks first (a "
        "code if the site sends one).\n"
        "4. Follow the link, set a new password, and report what happened, quoting the "
        "text around the link that extract_verification returned.",
    ),
)


class Prompts:
    """
    The prompts by name.
    """

    def __init__(self) -> None:
        self.prompts = {prompt.name: prompt for prompt in PROMPTS}

    def listing(self) -> list[dict[str, Any]]:
        """
        Every prompt, for C{prompts/list}.
        """
        return [prompt.listing() for prompt in self.prompts.values()]

    def get(self, params: dict[str, Any]) -> dict[str, Any]:
        """
        Answer C{prompts/get}.

        @raise JsonRpcError: C{INVALID_PARAMS} for an unknown prompt or a
            missing required argument.
        """
        name = params.get("name")
        prompt = self.prompts.get(name) if isinstance(name, str) else None
        if prompt is None:
            raise JsonRpcError(INVALID_PARAMS, f"unknown prompt: {name!r}")
        given = params.get("arguments") or {}
        if not isinstance(given, dict):
            raise JsonRpcError(INVALID_PARAMS, "arguments must be an object")
        values: dict[str, str] = {}
        for argument, _, required in prompt.arguments:
            value = given.get(argument)
            if required and not isinstance(value, str):
                raise JsonRpcError(INVALID_PARAMS, f"the prompt needs the argument {argument!r}")
            values[argument] = value if isinstance(value, str) else ""
        sender = values.get("sender")
        values["sender_clause"] = f' with from "{sender}"' if sender else ""
        return {
            "description": prompt.description,
            "messages": [
                {
                    "role": "user",
                    "content": {"type": "text", "text": prompt.template.format(**values)},
                }
            ],
        }
