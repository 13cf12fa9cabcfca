"""``deepfer serve``: the served model behind DeepFER's own small HTTP server, with the caps that
``mlflow models serve`` cannot set: a request-body limit (checked while the body streams in, so an
oversized request is refused before it is held in memory), besides the per-image byte and pixel
limits of the model itself. Same JSON as MLflow's scoring server (``dataframe_split`` or
``dataframe_records`` with an ``image`` column of base64 files), same answer rows. ``/`` is a
live demo page: upload a photo or start the camera."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from deepfer_kedro.inference.serving import EmotionModel

logger = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 32 * 2**20
DEMO_PAGE = Path(__file__).with_name("demo.html")


class RequestTooLarge(Exception):
    pass


def create_app(model: Any, settings: dict[str, Any] | None = None, max_request_bytes: int = MAX_REQUEST_BYTES,
               model_name: str = "") -> FastAPI:
    """The app serving ``model`` (a Keras emotion model) with ``settings`` (the inference parameters)."""
    emotion_model = EmotionModel().use(model, settings or {})
    app = FastAPI(title="DeepFER", docs_url=None, redoc_url=None)

    async def read_capped(request: Request) -> bytes:
        """The body, or ``RequestTooLarge`` once it passes the limit; the rest is read and dropped
        (so that the client gets the 413 rather than a reset connection), never kept."""
        body, size = bytearray(), 0
        async for chunk in request.stream():
            size += len(chunk)
            if size <= max_request_bytes:
                body += chunk
            else:
                body = bytearray()
        if size > max_request_bytes:
            raise RequestTooLarge(size)
        return bytes(body)

    @app.get("/", response_class=HTMLResponse)
    def demo_page() -> str:
        """The live demo: upload a photo or start the camera, see each face's emotion."""
        return DEMO_PAGE.read_text()

    @app.get("/ping")
    @app.get("/health")
    def ping() -> dict[str, str]:
        return {"status": "ok", "model": model_name}

    @app.post("/invocations")
    async def invocations(request: Request) -> JSONResponse:
        try:
            body = await read_capped(request)
        except RequestTooLarge as err:
            return JSONResponse({"error": f"request body of {err.args[0]:,} bytes or more is over the limit of "
                                          f"{max_request_bytes:,} (deepfer serve --max-request-bytes)"},
                                status_code=413)
        try:
            frame = _frame(json.loads(body))
        except (ValueError, KeyError, TypeError) as err:
            return JSONResponse({"error": f"expected JSON with dataframe_split or dataframe_records holding an "
                                          f"'image' column of base64-encoded image files ({err})"},
                                status_code=400)
        if "image" not in frame:
            return JSONResponse({"error": f"The input needs an 'image' column of base64-encoded image files; it has "
                                          f"{list(frame.columns)}"}, status_code=400)
        rows = await run_in_threadpool(emotion_model.predict, None, frame)  # the model serializes its calls
        return JSONResponse({"predictions": rows.to_dict(orient="records")})

    return app


def _frame(payload: Any) -> pd.DataFrame:
    if not isinstance(payload, dict):
        raise TypeError("the body is not a JSON object")
    if "dataframe_split" in payload:
        split = payload["dataframe_split"]
        return pd.DataFrame(split["data"], columns=split["columns"])
    if "dataframe_records" in payload:
        return pd.DataFrame(payload["dataframe_records"])
    raise KeyError("neither dataframe_split nor dataframe_records")
