"""JSON responses rendered by orjson: the same compact UTF-8 JSON as Starlette's
`JSONResponse`, produced several times faster (every flow step, token and API answer is one).

Non-string keys are written as strings, as the standard library does.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
