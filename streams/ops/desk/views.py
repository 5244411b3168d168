"""The lead desk's routes (``/ui``): server-rendered pages over the worker's own JSON API.

Each page asks the API of this worker over HTTP, with the configured token, so it is answered
across workers exactly as the API is (``/funnel`` and ``/reports/funnel`` ask every worker;
``/leads/{id}`` is routed to the worker that holds the lead). A browser signs in once with the
API token (``/ui/login``) and gets a cookie derived from it; a client may also send the token as
``Authorization: Bearer``. With ``web.auth: none`` the pages are open, like the API.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from aiohttp import ClientTimeout
from faust.web import View

from leadstream.core.explain import ScorePoint
from leadstream.core.identity import email_lead_id
from leadstream.streams.ops.desk.pages import funnel_main, lead_page, login_page, model_main, page
from leadstream.streams.ops.desk.sampler import Sampler

if TYPE_CHECKING:
    from leadstream.streams.pipeline import Pipeline

__all__ = ["register_desk"]

COOKIE = "leadstream_desk"
_TIMEOUT = ClientTimeout(total=5)
# (aiohttp refuses a charset inside content_type; both files are ASCII)
_STATIC = {"desk.css": "text/css", "desk.js": "text/javascript"}
_NO_STORE = {"Cache-Control": "no-store"}


def register_desk(pipeline: Pipeline) -> None:
    app = pipeline.app
    settings = pipeline.settings
    web = settings.web
    token = (web.api_token.get_secret_value()
             if web.auth == "token" and web.api_token is not None else None)
    # what the cookie holds: derived from the token, so the token itself never sits in a browser
    session = (hmac.new(token.encode(), b"leadstream-desk-session", hashlib.sha256).hexdigest()
               if token is not None else None)
    secure = "; Secure" if str(app.conf.canonical_url).startswith("https") else ""
    auth_header = {"Authorization": f"Bearer {token}"} if token is not None else {}

    def me() -> str:
        return str(app.conf.canonical_url).rstrip("/")

    def signed_in(request: Any) -> bool:
        if token is None:
            return True
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(),
                                                                 token.encode()):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return session is not None and hmac.compare_digest(cookie.encode(), session.encode())

    def to_login(view: View, request: Any) -> Any:
        if request.query.get("part"):  # the page script's refresh: say so, do not redirect
            return view.text("sign in again", status=401, headers=_NO_STORE)
        target = "/ui/login?" + urlencode({"next": request.rel_url.path_qs})
        return view.html("", status=303, headers={"Location": target, **_NO_STORE})

    async def api(path: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
        async with app.http_client.get(f"{me()}{path}", params=params, headers=auth_header,
                                       timeout=_TIMEOUT) as response:
            body = await response.json(content_type=None)
            return response.status, body

    async def metrics_texts() -> list[str]:
        hosts = {me(), *(str(u).rstrip("/") for u in app.router.table_metadata(pipeline.leads.name))}

        async def one(host: str) -> str:
            async with app.http_client.get(f"{host}/metrics", timeout=_TIMEOUT) as response:
                return await response.text()

        answers = await asyncio.gather(*(one(h) for h in sorted(hosts)), return_exceptions=True)
        return [a for a in answers if isinstance(a, str)]

    sampler = Sampler(metrics_texts)

    @app.page("/ui")
    class FunnelPage(View):
        async def get(self, request: Any) -> Any:
            if not signed_in(request):
                return to_login(self, request)
            (_, funnel), (_, report), sample = await asyncio.gather(
                api("/funnel"), api("/reports/funnel", {"by": "source_type"}), sampler.latest())
            main = funnel_main(funnel, report, sample, sampler.per_minute(lambda s: s.mql),
                               sampler.per_minute(lambda s: s.handovers))
            if request.query.get("part") == "main":
                return self.html(main, headers=_NO_STORE)
            return self.html(page("Funnel", "funnel", main, live="/ui?part=main"),
                             headers=_NO_STORE)

    @app.page("/ui/lead")
    class LeadPage(View):
        async def get(self, request: Any) -> Any:
            if not signed_in(request):
                return to_login(self, request)
            lead_id = request.query.get("id", "").strip()
            if not lead_id:
                return self.html(lead_page("", None, why=None, timeline=[], explained=True),
                                 headers=_NO_STORE)
            status, body = await api(f"/leads/{quote(lead_id, safe='')}", {"explain": "1"})
            if status == 404:
                return self.html(lead_page(lead_id, None, why=None, timeline=[], explained=True,
                                           error="No lead with this id or address."),
                                 status=404, headers=_NO_STORE)
            if status != 200:
                return self.html(lead_page(lead_id, None, why=None, timeline=[], explained=True,
                                           error=f"The worker answered {status}."),
                                 status=502, headers=_NO_STORE)
            explain = body.pop("explain", None) or {}
            timeline = [ScorePoint(p["at"], p["points"]) for p in explain.get("timeline", [])]
            return self.html(lead_page(lead_id, body, why=explain.get("why"), timeline=timeline,
                                       explained=explain.get("explained", True)),
                             headers=_NO_STORE)

        async def post(self, request: Any) -> Any:
            """The look-up form: an email address is hashed here and never put in a URL."""
            if not signed_in(request):
                return to_login(self, request)
            form = await request.post()
            text = str(form.get("q", "")).strip()
            lead_id = email_lead_id(text) if "@" in text else text
            return self.html("", status=303, headers={
                "Location": "/ui/lead?" + urlencode({"id": lead_id}), **_NO_STORE})

    @app.page("/ui/model")
    class ModelPage(View):
        async def get(self, request: Any) -> Any:
            if not signed_in(request):
                return to_login(self, request)
            sample = await sampler.latest()
            names = [s.primary.name for s in pipeline.shadows]
            main = model_main(pipeline.models, pipeline.shadows, sample,
                              sampler.per_minute(lambda s: s.mql),
                              {n: sampler.per_minute(lambda s, n=n: s.shadow_mql.get(n, 0.0))
                               for n in names})
            if request.query.get("part") == "main":
                return self.html(main, headers=_NO_STORE)
            return self.html(page("Model", "model", main, live="/ui/model?part=main"),
                             headers=_NO_STORE)

    @app.page("/ui/login")
    class LoginPage(View):
        async def get(self, request: Any) -> Any:
            return self.html(login_page(failed=False, next_url=_safe_next(request.query.get("next"))),
                             headers=_NO_STORE)

        async def post(self, request: Any) -> Any:
            form = await request.post()
            given = str(form.get("token", ""))
            target = _safe_next(str(form.get("next", "")))
            if token is not None and not hmac.compare_digest(given.encode(), token.encode()):
                return self.html(login_page(failed=True, next_url=target), status=401,
                                 headers=_NO_STORE)
            cookie = (f"{COOKIE}={session}; Path=/ui; HttpOnly; SameSite=Strict{secure}"
                      if session is not None else f"{COOKIE}=open; Path=/ui")
            return self.html("", status=303, headers={"Location": target, "Set-Cookie": cookie,
                                                       **_NO_STORE})

    @app.page("/ui/static/{name}")
    class Static(View):
        async def get(self, request: Any, name: str) -> Any:
            if name not in _STATIC:
                return self.text("not found", status=404)
            body = (resources.files("leadstream.streams.ops.desk") / "static" / name).read_bytes()
            return self.bytes(body, content_type=_STATIC[name],
                              headers={"Cache-Control": "max-age=300"})


def _safe_next(value: str | None) -> str:
    """Only back into the desk (an open redirect would let a link send the token elsewhere)."""
    if value and (value == "/ui" or value.startswith(("/ui/", "/ui?"))) \
            and not any(bad in value for bad in ("//", "\\", "..")):
        return value
    return "/ui"
