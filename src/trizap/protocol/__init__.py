"""The vocabulary of trizap: typed commands, events, views, errors and their JSON form.

- `names`: input rules and size limits (names, phone numbers, JIDs);
- `fields`: `Spec`, the per-field limits read by both the converter and the schema;
- `wire`: the one strict cattrs converter; `decode`/`encode`, `structure`/`unstructure`;
- `commands`: request bodies, query models, WebSocket client frames;
- `events`: the event log's entries and their typed `data`;
- `views`: response bodies and WebSocket server frames, built from store records;
- `schema`: JSON Schema / OpenAPI components generated from all of the above;
- `outgoing`, `media`, `content`: what a session sends and receives (every kind), the
  media store's files;
- `errors`: the error tree.

Plain data and pure functions: no I/O, and nothing else of trizap is imported.
"""

from .commands import CLIENT_FRAMES as CLIENT_FRAMES
from .commands import QUERY_TYPES as QUERY_TYPES
from .commands import REQUEST_TYPES as REQUEST_TYPES
from .commands import SEND_TYPES as SEND_TYPES
from .commands import ClientFrame as ClientFrame
from .commands import CreateSession as CreateSession
from .commands import CreateTenant as CreateTenant
from .commands import CreateToken as CreateToken
from .commands import EventsQuery as EventsQuery
from .commands import MediaUploadQuery as MediaUploadQuery
from .commands import MessagesQuery as MessagesQuery
from .commands import PairingCodeRequest as PairingCodeRequest
from .commands import SendMessage as SendMessage
from .commands import SendText as SendText
from .commands import SimFault as SimFault
from .commands import SimInbound as SimInbound
from .commands import SimScan as SimScan
from .commands import WsMarkRead as WsMarkRead
from .commands import WsPing as WsPing
from .commands import WsQuery as WsQuery
from .commands import WsSend as WsSend
from .commands import WsSendText as WsSendText
from .commands import decode_client_frame as decode_client_frame
from .commands import parse_query as parse_query
from .enums import ENGINE_NAMES as ENGINE_NAMES
from .enums import FAULT_KINDS as FAULT_KINDS
from .enums import MESSAGE_KINDS as MESSAGE_KINDS
from .enums import MESSAGE_STATUSES as MESSAGE_STATUSES
from .enums import SESSION_STATUSES as SESSION_STATUSES
from .enums import EngineName as EngineName
from .enums import FaultKind as FaultKind
from .enums import MessageKind as MessageKind
from .enums import MessageStatus as MessageStatus
from .enums import MessageType as MessageType
from .enums import Role as Role
from .enums import SessionStatus as SessionStatus
from .errors import Busy as Busy
from .errors import Conflict as Conflict
from .errors import Forbidden as Forbidden
from .errors import FrameInvalid as FrameInvalid
from .errors import IdempotencyKeyReused as IdempotencyKeyReused
from .errors import InvalidState as InvalidState
from .errors import LimitExceeded as LimitExceeded
from .errors import MalformedInput as MalformedInput
from .errors import NotFound as NotFound
from .errors import PayloadTooLarge as PayloadTooLarge
from .errors import TrizapError as TrizapError
from .errors import Unauthorized as Unauthorized
from .errors import Unavailable as Unavailable
from .errors import ValidationError as ValidationError
from .events import EVENT_DATA as EVENT_DATA
from .events import MESSAGE_EDITED as MESSAGE_EDITED
from .events import MESSAGE_REACTION as MESSAGE_REACTION
from .events import MESSAGE_RECEIVED as MESSAGE_RECEIVED
from .events import MESSAGE_REVOKED as MESSAGE_REVOKED
from .events import MESSAGE_STATUS as MESSAGE_STATUS
from .events import POLL_VOTE as POLL_VOTE
from .events import SESSION_QR as SESSION_QR
from .events import SESSION_STATUS as SESSION_STATUS
from .events import Event as Event
from .events import EventData as EventData
from .events import EventType as EventType
from .events import Me as Me
from .events import MessageReceivedData as MessageReceivedData
from .events import MessageStatusData as MessageStatusData
from .events import SessionQrData as SessionQrData
from .events import SessionStatusData as SessionStatusData
from .events import encode_event as encode_event
from .events import event_data as event_data
from .events import event_from_row as event_from_row
from .events import parse_event_data as parse_event_data
from .names import normalise_phone as normalise_phone
from .names import normalise_to as normalise_to
from .names import validate_name as validate_name
from .schema import components as components
from .schema import json_schema as json_schema
from .schema import query_parameters as query_parameters
from .views import ErrorFrame as ErrorFrame
from .views import EventsPage as EventsPage
from .views import Health as Health
from .views import Hello as Hello
from .views import MessageList as MessageList
from .views import MessageView as MessageView
from .views import PairingCode as PairingCode
from .views import QrView as QrView
from .views import ReplyFrame as ReplyFrame
from .views import SessionList as SessionList
from .views import SessionView as SessionView
from .views import TenantCreated as TenantCreated
from .views import TenantList as TenantList
from .views import TenantView as TenantView
from .views import TokenCreated as TokenCreated
from .views import TokenList as TokenList
from .views import TokenView as TokenView
from .views import WhoAmI as WhoAmI
from .views import error_frame as error_frame
from .views import me_view as me_view
from .views import media_view as media_view
from .views import message_view as message_view
from .views import reply_error as reply_error
from .views import reply_ok as reply_ok
from .views import session_view as session_view
from .views import tenant_view as tenant_view
from .views import token_view as token_view
from .wire import decode as decode
from .wire import encode as encode
from .wire import format_time as format_time
from .wire import parse_time as parse_time
from .wire import structure as structure
from .wire import unstructure as unstructure
