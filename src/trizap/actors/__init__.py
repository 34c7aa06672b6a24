"""The actor kernel: bounded mailboxes, refs with `call`/`cast`/`try_cast`, typed names,
`spawn` and threads an actor can always abandon.

It imports nothing else of trizap: supervisors build on it, and the product's actors
(`trizap.domain`) on both.
"""

from .names import Names as Names
from .ref import ActorError as ActorError
from .ref import ActorFailed as ActorFailed
from .ref import ActorRef as ActorRef
from .ref import ActorStopped as ActorStopped
from .ref import Mailbox as Mailbox
from .ref import MailboxFull as MailboxFull
from .ref import MailboxStatistics as MailboxStatistics
from .ref import Reply as Reply
from .ref import StopRequested as StopRequested
from .spawn import spawn as spawn
from .threads import abandoned_threads as abandoned_threads
from .threads import run_in_thread as run_in_thread
