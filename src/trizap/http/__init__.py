"""The HTTP and WebSocket edge: a quart-trio app served by hypercorn's trio worker.

- `app`: `create_app(runtime)`, error rendering;
- `auth`: `AuthMiddleware` (bearer token -> admin or tenant principal);
- `api`: the operation table and the wrapper every route runs through;
- `routes`: the REST routes; `ws`: the WebSocket endpoint (one `WsClientActor` each);
- `openapi`: the OpenAPI 3.1 document, generated from the table and the protocol types;
- `metrics`: Prometheus text; `problems`: problem+json;
- `serve`: `serve(runtime, host, port)`, embeddable in a trio nursery.

Only translation lives here: request -> command -> runtime call -> view -> response.
"""

from .app import create_app as create_app
from .auth import AuthMiddleware as AuthMiddleware
from .serve import serve as serve
