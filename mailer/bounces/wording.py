"""What a mail server's words say went wrong: one table of patterns, grouped by cause.

Mail servers say the same few things in thousands of ways and in several
languages; the status code is often missing or generic. The table is
ordered, and the first group whose pattern matches names the reason, in
three tiers: wording that overrides everything (a problem with the
*sender*, a full mailbox, a moved address); then the "address is dead"
wording; then the other, soft, causes. Servers often wrap a policy
rejection in "Recipient address rejected:", so that phrase alone decides
nothing; and "try again" is what a notice tells a person, not the server's
cause, so it names a network problem only beside a failed lookup.

Phrases in other languages are written as those servers write them, with
and without their accents where servers drop them.
"""

from __future__ import annotations

import functools
import re
from typing import Final

# Ordered as the module says. Patterns are lower case and matched against
# lower-cased text: case-blind matching of long alternations is several
# times slower in ``re``.
_RULES: Final[list[tuple[str, str]]] = [
    ("rejected", r"not have permission to post|sender (?:address |domain )?(?:rejected|refused"
     r"|denied|unknown|invalid|verify failed|verification failed|not (?:allowed|permitted))"
     r"|domain of sender|envelope sender|sender domain|mail from .*(?:rejected|refused)"
     r"|your (?:e-?mail )?address .* (?:rejected|not allowed)"),
    ("hasmoved", r"has moved|address (?:has )?changed|moved to (?:a )?new|no longer (?:at|with)"
     r"|new (?:e-?mail )?address is"),
    ("toolarge", r"(?:message|mail|e-?mail)(?: size)? (?:is )?too (?:big|large|long)"
     r"|size (?:limit )?exceed|exceeds? (?:the )?(?:maximum |max )?(?:message |allowed )?size"
     r"|message size (?:exceeds|limit)|too much mail data|message length exceeds"
     r"|larger than (?:the )?(?:allowed|permitted)|message file too big"),
    ("mailboxfull", r"mailbox (?:is )?full|over ?quota|quota (?:exceeded|violation|full)"
     r"|exceed(?:ed|s)? (?:the |his |her |their |its )?(?:storage|quota|disk)"
     r"|(?:mailbox|mail ?box|account|inbox) (?:is |has )?(?:over|exceeded|full|out of space)"
     r"|insufficient (?:system )?storage|disk (?:quota|full)|not enough (?:disk )?space"
     r"|mailfolder is full|user.{0,20} is over|mailbox size limit|full mailbox"
     r"|would exceed|storage (?:limit|quota|allocation)|too many messages in (?:the )?mailbox"
     r"|mailbox (?:has )?exceeded"
     # German, French, Spanish, Portuguese, Italian, Dutch, Japanese, then
     # Chinese, Korean and Russian.
     r"|(?:post|e-?mail-?)fach (?:ist )?(?:voll|(?:ü|ue)berf(?:ü|ue)llt)|mailbox (?:ist )?voll"
     r"|speicher(?:platz)? (?:ist )?(?:voll|ersch(?:ö|oe)pft)|quota (?:(?:ü|ue)berschritten)"
     r"|bo(?:î|i)te (?:aux lettres |mail |e-?mail |de r(?:é|e)ception )?(?:est )?pleine"
     r"|quota (?:d(?:é|e)pass(?:é|e)|atteint)"
     r"|buz(?:ó|o)n (?:de correo )?(?:est(?:á|a) )?(?:lleno|completo)"
     r"|cuota (?:excedida|superada|llena)"
     r"|caixa (?:postal|de correio|de entrada)? ?(?:est(?:á|a) )?(?:cheia|lotada)"
     r"|cota (?:excedida|esgotada)"
     r"|casella (?:di posta )?(?:(?:è|e'|e) )?piena|quota (?:superata|esaurita)"
     r"|mailbox (?:is )?vol\b|postvak (?:is )?vol"
     r"|一杯|いっぱい|満杯|容量"
     r"|(?:邮箱|信箱|郵箱)(?:空间|空間|容量)?(?:已满|已滿|不足|满了)|空间不足"
     r"|(?:사서함|메일함)이? (?:가득|꽉)|용량 초과"
     r"|(?:почтовый )?ящик (?:переполнен|заполнен)|превышен(?:а)? (?:квота|размер ящика)"),
    ("norelaying", r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited|not allowed)"
     r"|not (?:permitted|allowed) to relay|unable to relay|we do not relay"
     r"|relay not permitted|no relaying|relaying mail to .* not allowed|not a gateway"),
    ("requireptr", r"\bptr\b|reverse (?:dns|lookup|hostname|address)|no rdns|\brdns\b"
     r"|cannot find your hostname|ip name lookup failed|does not resolve to"),
    ("filtered", r"\b5\d\d\s*:?\s+:\s*user unknown|refused due to recipient preferences"
     r"|rejected by (?:the )?recipient'?s? (?:filter|preferences)"
     r"|(?:not accepting|does not accept|will not accept) (?:any )?(?:e-?mail|mail|messages)"
     r" from"),
    # The address is dead.
    ("userunknown", r"recipient address rejected: access denied|invalid (?:final )?delivery userid"
     r"|not listed in (?:the )?(?:domino|public|address|directory)|user .* not listed"
     r"|inactive (?:e-?mail )?address|not an active (?:e-?mail )?address|no longer valid"),
    ("hostunknown", r"account or domain may not exist|域名不存在|домен не (?:найден|существует)"
     r"|domain (?:is )?(?:not reachable|unreachable)"
     r"|domaine (?:inconnu|introuvable|inexistant|n.existe pas)"
     r"|dom(?:i|í)nio (?:desconocido|desconhecido|inexistente|no existe|n(?:ã|a)o existe)"
     r"|domain (?:unbekannt|existiert nicht|nicht gefunden)"),
    ("notaccept", r"does not accept (?:mail|e-?mail|messages)|not accepting (?:any )?mail"
     r"|null mx|accepts no mail|no mail (?:is )?accepted|will not accept mail"
     r"|indicated no smtp service|no smtp service"),
    ("networkerror", r"malformed or unexpected name server|name server reply"
     r"|temporary (?:dns|lookup)|not found, try again"),
    ("hostunknown", r"host (?:or domain name )?(?:not found|unknown|lookup failed)|unknown host"
     r"|domain (?:name )?(?:not found|unknown|does not exist|doesn'?t exist|is not valid)"
     r"|no such (?:domain|host)|unrouteable (?:mail )?domain|name or service not known"
     r"|nxdomain|no (?:valid )?(?:mx|a|dns) (?:or a )?records?|mx (?:record )?not found"
     r"|domain .* (?:not exist|unknown)|illegal host|unknown domain|invalid domain"
     r"|non-existent domain|non-existent host|hostname (?:not found|unknown)"
     r"|host [^\s]+ not found|couldn'?t find any host|unresolvable|no mx found"
     r"|domain (?:[^\s]+ )?(?:could(?:n'?t| not)|cannot) be found"),
    ("suspended", r"suspend|disabled|deactivat|inactive|not active|account (?:is )?(?:locked|frozen"
     r"|closed|expired)|expired account|on ?hold"),
    ("userunknown", r"(?:user|recipient|mailbox|account|address|addressee|local.?part)"
     r"(?: name)?(?: is)? (?:unknown|not found|not known|doesn'?t exist|does not exist"
     r"|invalid|not (?:listed|recogni[sz]ed|valid|exist)|unavailable|no longer)"
     r"|unknown (?:user|recipient|mailbox|account|local.?part|address|e-?mail)"
     r"|no such (?:user|recipient|mailbox|account|address|person|local user|e-?mail)"
     r"|invalid (?:recipient|mailbox|user|address|e-?mail|account)|not a valid (?:user|mailbox"
     r"|recipient|address)|unrouteable address|does not exist|doesn'?t exist|not exist"
     r"|no mail ?box|mail-?box not|not our user|is not a known user|user not local"
     r"|bad destination (?:mailbox|address)|bad[_ ]recipient"
     r"|screen ?names? (?:was |were |is |are )?(?:not found|unknown|invalid)"
     r"|no (?:valid )?(?:user|recipient|account)s? (?:here|by that name|with that)"
     r"|cannot be found|could(?:n'?t| not) be found|never logged|not recognized"
     r"|not recognised|dosn'?t have|not have an account|unknown or illegal alias"
     r"|user doesn'?t|i have no one by that name|sorry, no mailbox"
     r"|no one by that name|undeliverable address|invalid address|bad address"
     r"|mailbox unavailable|recipient .* (?:not|no longer) (?:valid|available)"
     # German, French, Spanish, Portuguese, Italian, Dutch, Japanese, then
     # Chinese, Korean and Russian.
     r"|benutzer (?:ist )?unbekannt|unbekannte[rn]? (?:benutzer|empf(?:ä|ae)nger|e-?mail-?adresse"
     r"|adresse)|empf(?:ä|ae)nger (?:ist )?unbekannt|(?:e-?mail-?)?adresse (?:ist )?unbekannt"
     r"|(?:benutzer|empf(?:ä|ae)nger|postfach|adresse|konto|mailbox) (?:existiert nicht"
     r"|ist nicht vorhanden|nicht gefunden|gibt es nicht)|kein(?:en)? (?:solchen )?benutzer"
     r"|utilisateur (?:inconnu|inexistant|introuvable)|destinataire (?:inconnu|inexistant"
     r"|introuvable|invalide)|adresse (?:e-?mail |(?:é|e)lectronique )?(?:inconnue|inexistante"
     r"|invalide|introuvable)|(?:utilisateur|destinataire|adresse|compte|bo(?:î|i)te aux lettres)"
     r" n.existe pas|bo(?:î|i)te aux lettres (?:inexistante|inconnue)"
     r"|usuario (?:desconocido|inexistente|no existe|no encontrado)"
     r"|destinatario (?:desconocido|inexistente|no existe|sconosciuto)"
     r"|direcci(?:ó|o)n (?:de correo )?(?:desconocida|inexistente|no existe|no v(?:á|a)lida)"
     r"|(?:la )?cuenta (?:no existe|inexistente)|buz(?:ó|o)n (?:no existe|inexistente)"
     r"|usu(?:á|a)rio (?:desconhecido|inexistente|n(?:ã|a)o existe|n(?:ã|a)o encontrado)"
     r"|destinat(?:á|a)rio (?:desconhecido|inexistente|n(?:ã|a)o existe)"
     r"|(?:endere(?:ç|c)o|conta|caixa postal) (?:desconhecid[oa]|inexistente|n(?:ã|a)o existe)"
     r"|utente (?:sconosciuto|inesistente|non esiste)|indirizzo (?:sconosciuto|inesistente)"
     r"|gebruiker (?:is )?onbekend|onbekende (?:gebruiker|ontvanger)"
     r"|宛先不明|見つかりません|存在しません|存在しない(?:ユーザ|アドレス|メールアドレス)"
     r"|該当(?:する)?ユーザ(?:ー)?(?:が|は)?(?:いません|ありません)"
     r"|(?:用户|用戶|收件人|收信人|邮箱|郵箱|帐号|账号|账户|帳號|地址)(?:名)?(?:不存在|无效|無效)"
     r"|(?:존재하지 않는|없는) (?:사용자|계정|주소|수신자)|사용자(?:가|를)? (?:없|찾을 수 없)"
     r"|пользовател[ьяи] (?:не найден|не существует)|нет такого (?:пользователя|адресата|ящика)"
     r"|адресат(?:а)? (?:не найден|не существует)|(?:ящик|адрес) не существует"),
    # Every other cause is soft.
    ("virusdetected", r"virus|malware|infected"),
    ("securityerror", r"\bspf\b|\bdkim\b|\bdmarc\b|sender policy framework"
     r"|authentication (?:required|failed|failure)|not authenticated|authentication"
     r"|\bauth(?:entication)? (?:error|failure)|tls (?:is )?required|must issue a starttls"
     r"|encryption required|unauthenticated|not authorized"),
    ("requireptr", r"client host .* (?:name|hostname) (?:mismatch|lookup)"),
    ("spamdetected", r"\bspam(?!haus|cop)|\bjunk\b|bulk (?:e-?mail|mail)|unsolicited"
     r"|content (?:was )?rejected"
     r" as|looks like spam|message (?:has been )?classified as|high probability of being"),
    ("blocked", r"block(?:ed|list|ing)|black ?list|(?<!not )listed (?:on|in|at)|\bdnsbl\b"
     r"|\brbl\b|spamhaus|spamcop|barracuda ?central|sorbs|reputation|client host .*rejected"
     r"|access denied|connection (?:refused|rejected)|banned|denylist|not allowed to send"
     r"|your ip|ip address .*(?:rejected|not allowed)|has been temporarily rate limited"
     r"|throttl|\bdeny\b|denied by|refused by|sender (?:ip )?rejected"
     r"|rejected (?:by|due to) (?:the )?(?:local )?(?:policy|administrative)"
     r"|we do not accept mail from|service unavailable"),
    ("toomanyconn", r"too many (?:connections|concurrent|sessions|recipients)|connection limit"
     r"|rate limit|too many messages|exceeded (?:the )?(?:rate|limit)|try again later"
     r"|sending (?:rate|quota)"),
    ("expired", r"retry (?:time|timeout) (?:not reached|exceeded)|delivery time expired"
     r"|message (?:has been )?expired|expired|(?:gave|give|giving) up|could not be delivered"
     r" (?:within|for)|has not been delivered for|queue(?:d)? too long|time ?out"
     r"|timed out|no answer from|retry timeout exceeded|cannot send message for"
     r"|connection (?:lost|closed|dropped)|could not deliver (?:for|within)"),
    ("suspended", r"locked|temporarily (?:unavailable|blocked)|is not (?:currently )?accepting"),
    ("policyviolation", r"polic(?:y|ies)|prohibited|not permitted|not allowed|violat"),
    ("contenterror", r"content|\bmime\b|header|charset|encoding|8bit|line too long"
     r"|message (?:is )?malformed|attachment|media error"),
    ("filtered", r"filter|rejected|refused|unauthorized|restricted"),
    ("syntaxerror", r"syntax error|command unrecognized|command not implemented"
     r"|bad sequence of commands|invalid command|unrecognized command"),
    ("systemerror", r"system error|internal error|server error|local error|temporary failure"
     r"|loop|too many hops|mail (?:server|system) (?:error|failure|problem)|i/o error"
     r"|configuration error|mailer error|unknown mailer|out of memory|resources"),
    ("networkerror", r"network|could not connect|unable to connect|connect(?:ion)? to .* failed"
     r"|host unreachable|unreachable|dns|lookup"),
    # Trend Micro InterScan says only this when the remote server refused the
    # address; any other cause it gives is read by the rules above.
    ("userunknown", r"unable to deliver message to <[^<>\n]{1,256}>"),
]
_COMPILED: Final = [(reason, re.compile(pattern, re.M)) for reason, pattern in _RULES]
#: Wording past this many characters is not read (the cause comes first).
_MAX_TEXT: Final = 3000
# Rules before this index name their cause precisely; after it, vaguely.
_PRECISE: Final = next(i for i, (reason, _) in enumerate(_RULES) if reason == "virusdetected")


def forget_wordings() -> None:
    """Empty the memo of classified wordings (a benchmark starts each pass cold)."""
    _match_lower.cache_clear()


def precise_reason(text: str) -> str:
    """The cause the wording names when it names it precisely, else ``""``."""
    reason, precise = match_wording(text)
    return reason if precise else ""


def reason_from_text(text: str) -> str:
    """The cause the wording names, or ``""`` when it names none we know."""
    return match_wording(text)[0]


def match_wording(text: str) -> tuple[str, bool]:
    """The cause the wording names and whether the wording is precise."""
    if not text:
        return "", False
    return _match_lower(text[:_MAX_TEXT].lower())


@functools.lru_cache(maxsize=512)
def _match_lower(text: str) -> tuple[str, bool]:
    # The same diagnostic is asked about several times while one message is read.
    for index, (reason, pattern) in enumerate(_COMPILED):
        if pattern.search(text):
            return reason, index < _PRECISE
    return "", False
