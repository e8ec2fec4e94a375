"""HTTP/2 server push endpoints: a page that pushes, and resources that echo their request."""

from __future__ import annotations

from reference_app import App, Request, Response


def register(app: App) -> None:
    """Add this family's endpoints to ``app``."""

    @app.route("/push/page")
    async def push_page(req: Request, resp: Response) -> None:
        """Push every ``path`` query value (with ``x-push: yes``); answer what each push() said.

        ``{"pushed": [bool, ...]}``: True where the push was sent (the server advertises
        ``http.response.push``), False where it was not attempted.
        """
        paths = req.params.get("path", [])
        pushed = [
            resp.push(path, {"x-push": "yes"})
            for path in ([paths] if isinstance(paths, str) else paths)
        ]
        resp.media = {"pushed": pushed}

    @app.route("/pushed/{name}")
    async def pushed(req: Request, resp: Response, name: str) -> None:
        """Echo the request as the app received it: method, path, query, version, headers."""
        resp.media = {
            "name": name,
            "method": req.method,
            "path": req.path,
            "query": req.query_string,
            "http_version": req.http_version,
            "scheme": req.scheme,
            "headers": [
                [k.decode("latin-1"), v.decode("latin-1")] for k, v in req.scope["headers"]
            ],
        }
