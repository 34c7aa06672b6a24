"""Supervision: restart policy, `Supervisor`, `DynamicSupervisor`, built on `trizap.actors`
(its public API only)."""

from .policy import NO_BACKOFF as NO_BACKOFF
from .policy import Backoff as Backoff
from .policy import BackoffPolicy as BackoffPolicy
from .policy import RestartIntensity as RestartIntensity
from .policy import RestartType as RestartType
from .policy import Strategy as Strategy
from .policy import should_restart as should_restart
from .supervisor import ActorBody as ActorBody
from .supervisor import ChildSpec as ChildSpec
from .supervisor import ChildStatistics as ChildStatistics
from .supervisor import DynamicSupervisor as DynamicSupervisor
from .supervisor import Supervisor as Supervisor
from .supervisor import SupervisorGaveUp as SupervisorGaveUp
from .supervisor import SupervisorStatistics as SupervisorStatistics
from .supervisor import task_body as task_body
