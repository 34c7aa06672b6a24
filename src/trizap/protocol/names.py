"""Names, phone numbers, JIDs and size limits: every input rule of the API, in one place.

The functions here take a string and return its canonical form or raise `ValueError` with a
message meant for the caller; they know nothing of locations. `protocol.fields` attaches them
to attrs fields, and `protocol.wire` runs them while structuring, so a bad value becomes a
`ValidationError` at `body.to`, `query.session`, ... The JSON Schema reads the same limits.
"""

from __future__ import annotations

import re
from typing import Final

# Tenant and session names.
NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,62}$"
MAX_NAME: Final = 63

# Phone numbers: E.164 allows at most 15 digits; 7 rules out short codes and typos.
MIN_PHONE_DIGITS: Final = 7
MAX_PHONE_DIGITS: Final = 15
# What a phone field may contain before normalisation (documented in the JSON Schema):
# spaces, an optional '+', then 7 to 15 digits among the separators ' ', '(', ')' and '-'.
# Exactly the language `normalise_phone` accepts, so the document does not promise more.
_PHONE_BODY: Final = r" *\+?[ ()-]*(?:[0-9][ ()-]*){7,15}"
PHONE_INPUT_PATTERN: Final = f"^{_PHONE_BODY}$"

# JIDs this API sends to: users and groups.
USER_SERVER: Final = "s.whatsapp.net"
GROUP_SERVER: Final = "g.us"
# WhatsApp's "linked identity" for a person whose number it hides: `<digits>@lid`.
LID_SERVER: Final = "lid"
MAX_JID: Final = 128
# A message recipient: a phone number, a user JID, a LID or a group JID (`normalise_to`);
# at most MAX_JID characters in every form.
TO_PATTERN: Final = (
    f"^(?:{_PHONE_BODY}|[0-9]{{7,15}}@s[.]whatsapp[.]net|[0-9]{{1,32}}@lid"
    "|[0-9]{1,32}(?:-[0-9]{1,32})?@g[.]us)$"
)
# A chat or contact in a path: a JID (no bare phone number there).
JID_PATTERN: Final = (
    "^(?:[0-9]{7,15}@s[.]whatsapp[.]net|[0-9]{1,32}@lid|[0-9]{1,32}(?:-[0-9]{1,32})?@g[.]us)$"
)

# Sizes. A message's text is counted in characters (code points), as JSON Schema does.
MAX_TEXT: Final = 65536
MAX_LABEL: Final = 200
MAX_IDEMPOTENCY_KEY: Final = 200
MAX_REF: Final = 200
MAX_WA_ID: Final = 128  # WhatsApp message ids are ~20-32 characters
MAX_MARK_READ_IDS: Final = 1000
MAX_PAGE: Final = 1000
DEFAULT_PAGE: Final = 100
MAX_WAIT_S: Final = 30
# Messages of every kind (WhatsApp's own limits where it has them).
MAX_CAPTION: Final = 1024
MAX_FILENAME: Final = 255
MAX_URL: Final = 2048
MAX_MIMETYPE: Final = 255
MAX_EMOJI: Final = 32  # one emoji may be several code points (skin tones, families)
MAX_MENTIONS: Final = 256
MAX_POLL_QUESTION: Final = 255
MAX_POLL_OPTION: Final = 100
MIN_POLL_OPTIONS: Final = 2
MAX_POLL_OPTIONS: Final = 12
MAX_PLACE: Final = 1000  # a location's name or address
MAX_CONTACT_NAME: Final = 256
# `type/subtype` with optional parameters (`audio/ogg; codecs=opus`).
MIMETYPE_PATTERN: Final = (
    r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]{0,126}"
    r"(?: *; *[a-zA-Z0-9_.-]+=[a-zA-Z0-9_.\"/+-]+)*$"
)

# `$` in Python also matches before a trailing newline; `fullmatch` on the unanchored body
# does not, and it is the same language as the ECMA pattern in the schema.
_NAME_RE: Final = re.compile(NAME_PATTERN[1:-1])
_PHONE_SEPARATORS: Final = str.maketrans("", "", " -()")
_DIGITS_RE: Final = re.compile(r"[0-9]+")  # not \d: that also matches other scripts' digits
_GROUP_ID_RE: Final = re.compile(r"[0-9]{1,32}(-[0-9]{1,32})?")
_LID_RE: Final = re.compile(r"[0-9]{1,32}")


def normalise_jid(s: str) -> str:
    """A person or group addressed by JID (a mention), or by phone number (made a user
    JID): `5511999999999` -> `5511999999999@s.whatsapp.net`."""
    to = normalise_to(s)
    return to if "@" in to else f"{to}@{USER_SERVER}"


def validate_name(s: str) -> str:
    """A tenant or session name, returned unchanged if it matches `NAME_PATTERN`."""
    if not _NAME_RE.fullmatch(s):
        raise ValueError(
            "must be 1 to 63 lowercase letters, digits, '_' or '-', starting with a letter or digit"
        )
    return s


def normalise_phone(s: str) -> str:
    """`+55 (11) 9999-9999` -> `551199999999`: a leading `+` and the separators space, `-`,
    `(` and `)` are dropped; what remains must be 7 to 15 ASCII digits."""
    body = s.lstrip(" ")  # only spaces: the pattern in the document allows nothing else
    if body.startswith("+"):
        body = body[1:]
    digits = body.translate(_PHONE_SEPARATORS)
    if not _DIGITS_RE.fullmatch(digits):
        raise ValueError(
            "a phone number may contain only digits, spaces, '-', '(', ')' and a leading '+'"
        )
    if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
        raise ValueError(
            f"a phone number must have {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} digits"
        )
    return digits


def normalise_to(s: str) -> str:
    """A message recipient: a phone number (normalised to digits), or a full JID kept as
    it is: `<7-15 digits>@s.whatsapp.net`, `<digits>@lid` or `<group id>@g.us`. At most
    MAX_JID characters."""
    if len(s) > MAX_JID:
        raise ValueError(f"a recipient has at most {MAX_JID} characters")
    if "@" not in s:
        return normalise_phone(s)
    user, _, server = s.partition("@")
    if server == USER_SERVER:
        if not _DIGITS_RE.fullmatch(user) or not (
            MIN_PHONE_DIGITS <= len(user) <= MAX_PHONE_DIGITS
        ):
            raise ValueError(
                f"a user JID is <{MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} digits>@{USER_SERVER}"
            )
        return s
    if server == GROUP_SERVER:
        if not _GROUP_ID_RE.fullmatch(user):
            raise ValueError(f"a group JID is <digits>@{GROUP_SERVER}")
        return s
    if server == LID_SERVER:
        if not _LID_RE.fullmatch(user):
            raise ValueError(f"a LID is <digits>@{LID_SERVER}")
        return s
    raise ValueError(f"a JID must end in @{USER_SERVER}, @{LID_SERVER} or @{GROUP_SERVER}")


def normalise_chat_jid(s: str) -> str:
    """A chat or contact named by its JID (a path parameter): a user JID, a LID or a
    group JID; a bare phone number is made a user JID."""
    return normalise_jid(s)


def jid_kind(jid: str) -> str:
    """`group` for a group JID, `user` for anything else (a person, by phone or LID)."""
    return "group" if jid.endswith("@" + GROUP_SERVER) else "user"
