"""HTTP/2 server push endpoints: a page that pushes, and resources that echo their request."""

from __future__ import annotations

from reference_app import App, Request, Response


def register(app: App) -> None:
    """Add this family's endpoints to ``app``."""

    @app.route("/push/page")
    async def push_page(req: Request, resp: Response) -> None:
        paths = req.params.get("path", [])
        pushed = [
            resp.push(path, {"x-push": "yes"})
            for path in ([paths] if isinstance(paths, str) else paths)
        ]
        resp.media = {"pushed": pushed}

    @app.route("/pushed/{name}")
    async def pushed(req: Request, resp: Response, name: str) -> None:
        resp.media = {
            "name": name,
            "method": req.method,
            "query": req.query_string,
            "headers": [
                [k.decode("latin-1"), v.decode("latin-1")] for k, v in req.scope["headers"]
            ],
        }
