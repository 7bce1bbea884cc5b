"""Which SMTP command a server's refusal answered: the greeting, MAIL, RCPT or DATA.

The same words mean different things at different stages. "User unknown"
in answer to RCPT TO says the address is dead; in answer to MAIL FROM it is
*our* sender the server does not know; in answer to DATA it is how some
providers refuse a sender their user has filtered out. Servers say the
stage in a few fixed ways: a session transcript (Sendmail, Courier:
``>>> RCPT To:<...>`` then ``<<< 550 ...``; InterScan the other way round),
or a phrase beside the answer (Postfix "in reply to RCPT TO command", Exim
"after MAIL FROM:<...>", qmail "but sender was rejected").

A transcript is read one session at a time ("... while talking to host:"
starts the next), so a later host's DATA never becomes the stage of an
earlier host's refusal.
"""

from __future__ import annotations

import re
from typing import Final

GREETING: Final = "CONNECT"
MAIL: Final = "MAIL"
RCPT: Final = "RCPT"
DATA: Final = "DATA"

# A transcript's lines: the command sent, and the reply received (its last
# line, "550 " rather than "550-"), and where a session with the next host starts.
_SESSION: Final = re.compile(
    r"^[ \t]*(?:(?:>>>|sent <<<)[ \t]*([a-z]+)"
    r"|(?:<<<|received >>>)[ \t]*([245])\d\d(?:[ \t\-]|$)"
    r"|(?:\.\.\. )?while talking to )",
    re.M,
)

_COMMANDS: Final = {
    "mail": MAIL, "rcpt": RCPT, "data": DATA, "end": DATA, "text": DATA, "helo": GREETING,
    "ehlo": GREETING, "initial": GREETING, "connect": GREETING, "greeting": GREETING,
    "banner": GREETING, "sender": MAIL, "name": GREETING, "message": DATA,
}
# A phrase that names the command the answer beside it refused.
_PHRASE: Final = re.compile(
    r"in reply to (?:the )?(mail|rcpt|end|data|helo|ehlo)\b"
    r"|\bafter (?:pipelined )?(mail|rcpt|end|data|helo|ehlo|initial)\b"
    r"|did not like our (mail|rcpt|data|helo|ehlo)\b"
    r"|for (mail|rcpt|text|data) (?:from |to )?command"
    r"|connected to \S+ but (?:my )?(sender|name) was rejected"
    r"|failed after i sent the (message)|(greeting|banner|connect) (?:was )?(?:refused|rejected)"
    r"|(mail) from command failed|(rcpt) to command failed|smtp command\W*(mail|rcpt|data)\b"
    r"|while sending (?:the )?(message|data)\b|\b(data) command",
)
#: Every phrase above has one of these words.
_PHRASE_WORDS: Final = ("reply to", "after", "like our", "command", "connected to", "refused",
                        "rejected", "sending")
#: A stage is looked for this far into the text: the answer comes first.
_MAX_TEXT: Final = 8000


def smtp_command(text: str) -> str:
    """The command the first refusal in ``text`` answered (``MAIL``, ...), or ``""``."""
    # Lower case and case-sensitive patterns: case-blind alternations are slow.
    text = text[:_MAX_TEXT].lower()
    if "<<<" in text or ">>>" in text:
        from_transcript = _transcript_command(text)
        if from_transcript:
            return from_transcript
    if not any(word in text for word in _PHRASE_WORDS):
        return ""  # most notices name no stage: one look for the words each phrase has
    phrase = _PHRASE.search(text)
    if phrase is None:
        return ""
    word = next(group for group in phrase.groups() if group)
    return _COMMANDS.get(word, "")


def _greeting(text: str, reply: re.Match[str], session: bool) -> str:
    """GREETING for a refusal that opens a session, unless it names an address.

    A transcript that leaves out the command line is no greeting refusal
    when the answer is about an address.
    """
    end = text.find("\n", reply.end())
    line = text[reply.end(): end if end != -1 else len(text)]
    return GREETING if session and "@" not in line else ""


def _transcript_command(text: str) -> str:
    """The last command sent before the first permanent refusal, in that refusal's session.

    A temporary refusal counts only when there is no permanent one: a host
    that said "busy" was followed by the host whose answer the notice
    reports. A refusal that follows the start of a session with no command
    before it answered the greeting.
    """
    command, session = "", False
    temporary = ""
    for line in _SESSION.finditer(text):
        sent, reply = line.groups()
        if sent:
            command = sent
        elif reply in ("4", "5"):
            refused = _COMMANDS.get(command, "") if command else _greeting(text, line, session)
            if reply == "5" and refused:
                return refused
            temporary = temporary or refused
        elif not reply:
            command, session = "", True  # a session with another host begins
    return temporary
