"""Actor primitives: bounded mailboxes, refs with `call`/`cast`, and the runtime's actors."""

from .ref import ActorError as ActorError
from .ref import ActorFailed as ActorFailed
from .ref import ActorRef as ActorRef
from .ref import ActorStopped as ActorStopped
from .ref import Mailbox as Mailbox
from .ref import MailboxFull as MailboxFull
from .ref import MailboxStatistics as MailboxStatistics
from .ref import Reply as Reply
from .ref import StopRequested as StopRequested
from .registry import Registry as Registry
from .spawn import spawn as spawn
from .threads import abandoned_threads as abandoned_threads
from .threads import run_in_thread as run_in_thread
