"""The runtime: `open_runtime()` builds the tree; `Runtime` is the library's facade.

Everything a user can do over HTTP they can do here, from any trio program; every failure
is in the error tree of `trizap.protocol.errors`.
"""

from .auth import Admin as Admin
from .auth import Principal as Principal
from .auth import TenantPrincipal as TenantPrincipal
from .datadir import DataDirInUse as DataDirInUse
from .datadir import hold_data_dir as hold_data_dir
from .open import open_runtime as open_runtime
from .runtime import Runtime as Runtime
from .runtime import RuntimeStatistics as RuntimeStatistics
