"""What the project asks of daphne, its HTTP server, beyond its command line.

Twisted's request object (daphne's `WebRequest` extends it) parses every POST form or
multipart body into its own `args` before the application sees the request: a second
copy of every upload in memory, and a malformed multipart body answered with a bare,
empty 400 that never reaches Django (nor the API's error envelope, nor the access log).
Daphne never reads those `args`; Django parses bodies itself. So the parse is turned off.
"""

from typing import Any

from daphne import http_protocol


class WebRequest(http_protocol.WebRequest):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parsePOSTFormSubmission = False


def install() -> None:
    """Makes daphne's protocol factory build our requests (it reads the module global
    `WebRequest` for every connection)."""
    http_protocol.WebRequest = WebRequest  # type: ignore[misc]
